from __future__ import annotations

import pluggy
import pytest
from cachekit import build_plugin_manager
from cachekit.testing import FakeClock

from ._support import Recorder


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A hermetic plugin manager: the built-in plugins only, no entry points."""
    return build_plugin_manager(autoload=False)


@pytest.fixture
def clock() -> FakeClock:
    """An injectable clock (tests move time with ``advance`` instead of sleeping)."""
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    """An observer plugin keeping every event (register it on the cache's manager)."""
    return Recorder()
