"""``ObserverPluginContract``: what every metrics observer plugin promises.

A plugin package (``cachekit-prometheus``, ``cachekit-otel``) subclasses it, names
its entry point, distribution, client library and switch, and supplies a
``broken_observer`` fixture: an observer of its class whose instruments cannot be
built (a real clash, such as a metric name already taken in a registry)::

    class TestContract(ObserverPluginContract):
        entry_point, distribution = "prometheus", "cachekit-prometheus"
        client_modules, disable_env = ("prometheus_client",), "CACHEKIT_PROMETHEUS_DISABLED"

        @pytest.fixture
        def broken_observer(self): ...

The suite checks, in fresh interpreters where it matters: the entry point registers
a :class:`cachekit.MetricsObserver`; registering imports no client library; the first
event does, unless the switch is set; instruments that cannot be built log one
WARNING and never break a call; nor does a sink that raises (injected: the fault
cannot be provoked through a real client).
"""

from __future__ import annotations

import logging
import os
from importlib import metadata
from typing import Any

import pytest

from cachekit import Cache, CacheEvent, CacheStats, MetricsObserver, build_plugin_manager
from cachekit.testing._servers import modules_imported_by

__all__ = ["ObserverPluginContract"]

#: A process that builds a cache and makes a miss, a store and a hit.
TRAFFIC = """
import cachekit
cache = cachekit.Cache(type="local", namespace="n")
cache.get("k"); cache.set("k", 1); cache.get("k")
"""


class ObserverPluginContract:
    """Subclass with the four class attributes and a ``broken_observer`` fixture."""

    entry_point: str
    distribution: str
    client_modules: tuple[str, ...]
    disable_env: str

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Observers are synchronous code called from the engine: both loops."""
        return str(request.param)

    def client_loaded(self, modules: frozenset[str]) -> list[str]:
        return sorted(m for m in modules if m.split(".")[0] in self.client_modules)

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != self.disable_env}
        return {**env, **extra}

    def test_the_entry_point_registers_the_installed_observer(self) -> None:
        (ep,) = [e for e in metadata.entry_points(group="cachekit") if e.name == self.entry_point]
        assert ep.dist is not None and ep.dist.name == self.distribution
        plugin = build_plugin_manager(autoload=True).get_plugin(self.entry_point)
        assert isinstance(plugin, MetricsObserver)
        assert plugin is ep.load()  # one observer per process, whatever the manager

    def test_registering_the_plugin_imports_no_client_library(self) -> None:
        loaded = modules_imported_by('import cachekit; cachekit.Cache(type="local")')
        (ep,) = [e for e in metadata.entry_points(group="cachekit") if e.name == self.entry_point]
        assert ep.value.split(":")[0] in loaded  # the plugin was registered
        assert self.client_loaded(loaded) == []

    def test_the_first_event_imports_it_unless_the_switch_is_set(self) -> None:
        assert self.client_loaded(modules_imported_by(TRAFFIC, env=self.environ()))
        off = modules_imported_by(TRAFFIC, env=self.environ(**{self.disable_env: "1"}))
        assert self.client_loaded(off) == []

    async def traffic(self, observer: MetricsObserver[Any]) -> CacheStats:
        """A store, two hits and a miss through a cache that only ``observer`` watches;
        every call must answer as if nothing watched it."""
        pm = build_plugin_manager(autoload=False)
        pm.register(observer)
        async with Cache(type="local", plugins=pm, namespace="n") as cache:
            await cache.aset("k", {"v": 1})
            assert await cache.aget("k") == {"v": 1}
            assert await cache.aget("k") == {"v": 1}
            assert await cache.aget("missing") is None
            stats = cache.stats()
        assert (stats.hits, stats.misses, stats.stores) == (2, 1, 1)
        return stats

    @pytest.mark.anyio
    async def test_instruments_that_cannot_be_built_warn_once_and_never_break_a_call(
        self, broken_observer: MetricsObserver[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="cachekit"):
            stats = await self.traffic(broken_observer)
        assert stats.errors == 0  # a quiet observer, not a failing one
        warnings = [r for r in caplog.records if broken_observer.name in r.getMessage()]
        assert len(warnings) == 1

    @pytest.mark.anyio
    async def test_a_sink_that_raises_never_breaks_a_call(
        self, broken_observer: MetricsObserver[Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        broken_observer._sink = RaisingSink()
        with caplog.at_level(logging.WARNING, logger="cachekit"):
            stats = await self.traffic(broken_observer)
        assert stats.errors == 4  # each failed observer call is counted
        assert any("observer" in r.getMessage() for r in caplog.records)


class RaisingSink:
    """A sink whose every record fails."""

    def observe(self, event: CacheEvent) -> None:
        raise RuntimeError("the metrics library failed")

    def close(self) -> None:
        pass
