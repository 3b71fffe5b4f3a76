"""Contract sections for optional abilities: ``usage`` and shared counters.

Mixed into :class:`~cachekit.testing.BackendContract`, so every backend's contract run
includes them; each test skips itself for a backend that does not declare the ability
(``usage`` not overridden; ``shared`` false or no ``scan``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from cachekit._cache import Cache
from cachekit._engine._shared import stats_prefix
from cachekit._engine._shared_totals import SharedTotals, read_shared_totals
from cachekit._kernel._manager import build_plugin_manager
from cachekit._storage._backend import AsyncBackend
from cachekit.hookspecs import RegisterBackend, hookimpl

__all__ = ["SharedCountersContract", "UsageContract"]


def _needs_usage(backend: AsyncBackend) -> None:
    if type(backend).usage is AsyncBackend.usage:
        pytest.skip(f"{type(backend).__name__} does not report usage (optional)")


class UsageContract:
    """``usage(prefix)``: live entries under a prefix and their value bytes."""

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        raise NotImplementedError  # BackendContract provides it

    @pytest.mark.anyio
    async def test_usage_counts_entries_and_value_bytes_of_a_prefix(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        _needs_usage(backend)
        mine, other = prefix + "team-a:", prefix + "team-ab:"
        values = {mine + "x": b"abc", mine + "y": bytes(range(256)) * 4, mine + "empty": b""}
        await backend.set_many(values, None)
        await backend.set(mine + "z", b"12345", 3600.0)
        await backend.set(other + "x", b"not mine", None)
        usage = await backend.usage(mine)
        assert (usage.entries, usage.bytes) == (4, 3 + 1024 + 0 + 5)
        assert isinstance(usage.note, str)
        whole = await backend.usage(prefix)
        assert (whole.entries, whole.bytes) == (5, 1032 + len(b"not mine"))

    @pytest.mark.anyio
    async def test_usage_of_nothing_is_zero(self, backend: AsyncBackend, prefix: str) -> None:
        _needs_usage(backend)
        usage = await backend.usage(prefix + "never-written:")
        assert (usage.entries, usage.bytes) == (0, 0)

    @pytest.mark.anyio
    async def test_usage_follows_overwrites_deletes_and_clears(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        _needs_usage(backend)
        await backend.set(prefix + "k", b"1234567890", None)
        await backend.set(prefix + "k", b"12", None)
        await backend.set(prefix + "gone", b"xyz", None)
        await backend.delete(prefix + "gone")
        usage = await backend.usage(prefix)
        assert (usage.entries, usage.bytes) == (1, 2)
        await backend.clear(prefix)
        usage = await backend.usage(prefix)
        assert (usage.entries, usage.bytes) == (0, 0)

    @pytest.mark.anyio
    async def test_usage_of_expired_entries_is_excluded_or_said(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        _needs_usage(backend)
        await backend.set(prefix + "short", b"abcd", 0.5)
        await backend.set(prefix + "long", b"ab", None)
        await self.advance(backend, 0.7)
        usage = await backend.usage(prefix)
        if usage.entries == 2:  # a store without expiry of its own must say so
            assert usage.bytes == 6
            assert "expired" in usage.note
        else:
            assert (usage.entries, usage.bytes) == (1, 2)


def _over(make_backend: Callable[[], AsyncBackend], namespace: str) -> Cache:
    """A ``Cache(shared_stats=True)`` over a fresh backend from ``make_backend``."""

    class Store:
        @hookimpl
        def cachekit_register_backends(self, register: RegisterBackend) -> None:
            register("contract-store", lambda: make_backend())

    plugins = build_plugin_manager(autoload=False)
    plugins.register(Store())
    return Cache(type="contract-store", plugins=plugins, namespace=namespace, shared_stats=True)


class SharedCountersContract:
    """``Cache(shared_stats=True)``: every writer's snapshot is found and added up."""

    @pytest.fixture
    async def shared_namespace(self, backend: AsyncBackend, prefix: str) -> AsyncIterator[str]:
        if not backend.shared or type(backend).scan is AsyncBackend.scan:
            pytest.skip(f"{type(backend).__name__} keeps no shared counters (optional)")
        namespace = prefix.split(":")[2]
        yield namespace
        async for key in backend.scan(stats_prefix(namespace)):
            await backend.delete(key)

    async def _totals(self, backend: AsyncBackend, namespace: str | None) -> SharedTotals:
        async def io(op: str, call: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            return await call(*args)

        return await read_shared_totals(backend, io, namespace)

    @pytest.mark.anyio
    async def test_shared_counters_of_two_writers_add_up(
        self,
        backend: AsyncBackend,
        make_backend: Callable[[], AsyncBackend],
        shared_namespace: str,
    ) -> None:
        plan = {"one": (3, 2), "two": (1, 4)}  # hits, misses per writer
        for name, (hits, misses) in plan.items():
            async with _over(make_backend, shared_namespace) as cache:
                await cache.aset(name, {"writer": name})
                for _ in range(hits):
                    assert await cache.aget(name) == {"writer": name}
                for i in range(misses):
                    assert await cache.aget(f"{name}-absent-{i}") is None
        totals = await self._totals(backend, shared_namespace)
        assert (totals.writers, totals.processes, totals.unreadable) == (2, 1, 0)
        assert (totals.counts["hits"], totals.counts["misses"], totals.counts["stores"]) == (
            4,
            6,
            2,
        )
        row = totals.tables["by_namespace"][shared_namespace]
        assert (row.hits, row.misses) == (4, 6)
        assert totals.tables["by_call_type"]["kv"].hits == 4
        everyone = await self._totals(backend, None)
        assert everyone.counts["hits"] >= 4  # other namespaces' writers may add more

    @pytest.mark.anyio
    async def test_a_foreign_snapshot_is_skipped_and_counted(
        self,
        backend: AsyncBackend,
        make_backend: Callable[[], AsyncBackend],
        shared_namespace: str,
    ) -> None:
        async with _over(make_backend, shared_namespace) as cache:
            assert await cache.aget("absent") is None
        await backend.set(stats_prefix(shared_namespace) + "garbage", b"\x80 not json", None)
        totals = await self._totals(backend, shared_namespace)
        assert (totals.writers, totals.unreadable, totals.counts["misses"]) == (1, 1, 1)
