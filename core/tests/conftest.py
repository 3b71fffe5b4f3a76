from __future__ import annotations

import pluggy
import pytest
from cachekit import build_plugin_manager


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A hermetic plugin manager: the built-in plugins only, no entry points."""
    return build_plugin_manager(autoload=False)
