"""The backend contract suite every :class:`cachekit.AsyncBackend` passes."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from cachekit._storage._backend import AsyncBackend
from cachekit.testing._contract_usage import SharedCountersContract, UsageContract

__all__ = ["BackendContract", "FakeClock", "unit_vector"]


class FakeClock:
    """A clock for tests: ``clock()`` returns the current time, ``advance(s)`` moves it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BackendContract(UsageContract, SharedCountersContract):
    """Behaviour every :class:`cachekit.AsyncBackend` must have. Subclass it.

    Includes the sections of optional abilities (``usage``, shared counters), which
    skip themselves for a backend that does not declare them."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def make_backend(self) -> Callable[[], AsyncBackend]:
        raise NotImplementedError("override the make_backend fixture")

    @pytest.fixture
    async def backend(
        self, make_backend: Callable[[], AsyncBackend]
    ) -> AsyncIterator[AsyncBackend]:
        instance = make_backend()
        assert isinstance(instance, AsyncBackend)
        try:
            yield instance
        finally:
            await instance.aclose()

    @pytest.fixture
    async def prefix(self, backend: AsyncBackend) -> AsyncIterator[str]:
        value = f"cachekit:v2:contract-{uuid.uuid4().hex[:12]}:"
        yield value
        await backend.clear(value)

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        """Let ``seconds`` pass for ``backend``. The default sleeps for real."""
        await anyio.sleep(seconds)

    # -- basic operations ------------------------------------------------------
    @pytest.mark.anyio
    async def test_round_trip(self, backend: AsyncBackend, prefix: str) -> None:
        await backend.set(prefix + "a", b"value-a", None)
        assert await backend.get(prefix + "a") == b"value-a"

    @pytest.mark.anyio
    async def test_miss_is_none(self, backend: AsyncBackend, prefix: str) -> None:
        assert await backend.get(prefix + "never-written") is None

    @pytest.mark.anyio
    async def test_overwrite_replaces(self, backend: AsyncBackend, prefix: str) -> None:
        await backend.set(prefix + "k", b"one", None)
        await backend.set(prefix + "k", b"two", None)
        assert await backend.get(prefix + "k") == b"two"

    @pytest.mark.anyio
    async def test_delete_reports_existence(self, backend: AsyncBackend, prefix: str) -> None:
        await backend.set(prefix + "k", b"v", None)
        assert await backend.delete(prefix + "k") is True
        assert await backend.get(prefix + "k") is None
        assert await backend.delete(prefix + "k") is False

    @pytest.mark.anyio
    async def test_keys_with_separators_and_unicode(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        keys = [prefix + "a:b", prefix + "a/b", prefix + "spa ce", prefix + "ünï-☃"]
        for i, key in enumerate(keys):
            await backend.set(key, str(i).encode(), None)
        assert [await backend.get(k) for k in keys] == [b"0", b"1", b"2", b"3"]

    # -- batches -------------------------------------------------------------
    @pytest.mark.anyio
    async def test_get_many_keeps_order_with_misses(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        await backend.set(prefix + "1", b"one", None)
        await backend.set(prefix + "3", b"three", None)
        keys = [prefix + "3", prefix + "2", prefix + "1", prefix + "3", prefix + "4"]
        assert await backend.get_many(keys) == [b"three", None, b"one", b"three", None]

    @pytest.mark.anyio
    async def test_get_many_empty(self, backend: AsyncBackend, prefix: str) -> None:
        assert await backend.get_many([]) == []

    @pytest.mark.anyio
    async def test_set_many_round_trip(self, backend: AsyncBackend, prefix: str) -> None:
        mapping = {prefix + f"item-{i}": f"v{i}".encode() for i in range(25)}
        await backend.set_many(mapping, None)
        assert await backend.get_many(list(mapping)) == list(mapping.values())

    # -- lifetimes -----------------------------------------------------------
    @pytest.mark.anyio
    async def test_ttl_half_second_is_neither_zero_nor_rounded_up(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        await backend.set(prefix + "short", b"v", 0.5)
        await backend.set(prefix + "long", b"v", 3600.0)
        await backend.set(prefix + "forever", b"v", None)
        assert await backend.get(prefix + "short") == b"v"  # 0.5 was not truncated to 0
        await self.advance(backend, 0.7)
        assert await backend.get(prefix + "short") is None  # and not rounded up to 1 s
        assert await backend.get(prefix + "long") == b"v"
        assert await backend.get(prefix + "forever") == b"v"

    @pytest.mark.anyio
    async def test_set_many_applies_ttl(self, backend: AsyncBackend, prefix: str) -> None:
        await backend.set_many({prefix + "a": b"1", prefix + "b": b"2"}, 0.5)
        assert await backend.get_many([prefix + "a", prefix + "b"]) == [b"1", b"2"]
        await self.advance(backend, 0.7)
        assert await backend.get_many([prefix + "a", prefix + "b"]) == [None, None]

    @pytest.mark.anyio
    async def test_overwrite_without_ttl_clears_old_ttl(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        await backend.set(prefix + "k", b"old", 0.5)
        await backend.set(prefix + "k", b"new", None)
        await self.advance(backend, 0.7)
        assert await backend.get(prefix + "k") == b"new"

    # -- clear -----------------------------------------------------------------
    @pytest.mark.anyio
    async def test_clear_is_scoped_to_prefix(self, backend: AsyncBackend, prefix: str) -> None:
        mine, other = prefix + "team-a:", prefix + "team-ab:"
        for i in range(7):
            await backend.set(f"{mine}{i}", b"x", None)
        await backend.set(f"{other}0", b"y", None)
        assert await backend.clear(mine) == 7
        assert await backend.get(f"{mine}0") is None
        assert await backend.get(f"{other}0") == b"y"
        assert await backend.clear(mine) == 0

    # -- values ------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_binary_safe_values(self, backend: AsyncBackend, prefix: str) -> None:
        values = {
            prefix + "all-bytes": bytes(range(256)) * 4,
            prefix + "nul": b"\x00\x00\x00",
            prefix + "crlf": b"a\r\nb\n\r",
            prefix + "empty": b"",
        }
        await backend.set_many(values, None)
        for key, value in values.items():
            assert await backend.get(key) == value

    @pytest.mark.anyio
    async def test_large_value(self, backend: AsyncBackend, prefix: str) -> None:
        value = (bytes(range(256)) * 4096 * 5)[: 5 * 1024 * 1024]
        await backend.set(prefix + "big", value, None)
        assert await backend.get(prefix + "big") == value

    # -- concurrency and lifecycle -------------------------------------------
    @pytest.mark.anyio
    async def test_concurrent_tasks(self, backend: AsyncBackend, prefix: str) -> None:
        results: dict[int, Any] = {}

        async def worker(i: int) -> None:
            key = f"{prefix}c{i}"
            await backend.set(key, f"value-{i}".encode(), None)
            results[i] = await backend.get(key)

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(worker, i)
        assert results == {i: f"value-{i}".encode() for i in range(50)}

    @pytest.mark.anyio
    async def test_aclose_is_idempotent(self, make_backend: Callable[[], AsyncBackend]) -> None:
        instance = make_backend()
        key = f"cachekit:v2:contract-{uuid.uuid4().hex[:12]}:k"
        await instance.set(key, b"v", None)
        assert await instance.get(key) == b"v"
        await instance.delete(key)
        await instance.aclose()
        await instance.aclose()


def unit_vector(*components: float, dim: int = 8) -> list[float]:
    """``components`` padded with zeros to ``dim`` and scaled to unit length."""
    padded = [float(c) for c in components] + [0.0] * (dim - len(components))
    norm = math.sqrt(sum(c * c for c in padded))
    return [c / norm for c in padded]
