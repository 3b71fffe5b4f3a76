"""Fixtures: the real ``openai`` SDK against ``cachekit.testing.OpenAIServer`` (the
shared fixtures ``openai_server`` and ``async_openai_client``), a
hermetic plugin manager, and a fresh Prometheus registry per test."""

from __future__ import annotations

import pluggy
import pytest
from cachekit import build_plugin_manager
from cachekit.testing import async_openai_client, openai_server, openai_server_session
from prometheus_client import CollectorRegistry

__all__ = ["async_openai_client", "openai_server", "openai_server_session"]  # fixtures


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the OpenAI SDK is asyncio only


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """The built-in plugins only: the test registers the observer it means."""
    return build_plugin_manager(autoload=False)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()
