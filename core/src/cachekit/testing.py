"""The backend contract test suite, and test helpers for plugin authors.

Every backend package runs the same suite against its real store::

    from cachekit.testing import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def make_backend(self):
            return lambda: MyBackend(url=...)

``make_backend`` returns a zero-argument callable that builds a fresh backend;
the suite creates it inside each test (so loop-bound clients live on the test's
loop), works under a unique key prefix (so a shared server is fine) and closes
it. Override :meth:`BackendContract.advance` when the backend takes an injectable
clock, so TTL tests need not sleep. Tests run on asyncio; override the
``anyio_backend`` fixture to add trio where the backend supports it.

This module needs ``pytest`` and ``anyio``'s pytest plugin (installed with anyio).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from cachekit._backend import AsyncBackend
from cachekit._semantic import SemanticBackend

__all__ = ["BackendContract", "FakeClock", "SemanticBackendContract", "unit_vector"]


class FakeClock:
    """A clock for tests: ``clock()`` returns the current time, ``advance(s)`` moves it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BackendContract:
    """Behaviour every :class:`cachekit.AsyncBackend` must have. Subclass it."""

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
        value = f"cachekit:v1:contract-{uuid.uuid4().hex[:12]}:"
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
        key = f"cachekit:v1:contract-{uuid.uuid4().hex[:12]}:k"
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


class SemanticBackendContract(BackendContract):
    """Behaviour every :class:`cachekit.SemanticBackend` must have: the whole
    :class:`BackendContract` plus the vector index. Subclass it the same way.

    Vectors are unit length (the core normalises them); similarities are checked to
    1e-3, so a backend may store vectors as float32. Lifetimes use :meth:`advance`.
    """

    @pytest.fixture
    def partition(self) -> str:
        return uuid.uuid4().hex

    @staticmethod
    def semantic(backend: AsyncBackend) -> SemanticBackend:
        assert isinstance(backend, SemanticBackend)
        return backend

    # -- lookups -------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_semantic_is_a_semantic_backend(self, backend: AsyncBackend) -> None:
        assert isinstance(backend, SemanticBackend)
        assert backend.semantic is True

    @pytest.mark.anyio
    async def test_semantic_empty_partition_finds_nothing(
        self, backend: AsyncBackend, partition: str
    ) -> None:
        assert await self.semantic(backend).search(partition, unit_vector(1), 0.0) is None

    @pytest.mark.anyio
    async def test_semantic_match_carries_key_and_similarity(
        self, backend: AsyncBackend, prefix: str, partition: str
    ) -> None:
        sem = self.semantic(backend)
        await sem.index(partition, prefix + "k", unit_vector(1), None)
        exact = await sem.search(partition, unit_vector(1), 0.99)
        assert exact is not None
        assert exact.key == prefix + "k"
        assert exact.similarity == pytest.approx(1.0, abs=1e-3)
        near = await sem.search(partition, unit_vector(0.8, 0.6), 0.5)
        assert near is not None
        assert near.key == prefix + "k"
        assert near.similarity == pytest.approx(0.8, abs=1e-3)

    @pytest.mark.anyio
    async def test_semantic_threshold_is_respected(
        self, backend: AsyncBackend, prefix: str, partition: str
    ) -> None:
        sem = self.semantic(backend)
        await sem.index(partition, prefix + "k", unit_vector(0.8, 0.6), None)
        query = unit_vector(1)  # cosine 0.8 with the indexed vector
        assert await sem.search(partition, query, 0.79) is not None
        assert await sem.search(partition, query, 0.81) is None
        assert await sem.search(partition, unit_vector(-1), 0.0) is None  # cosine -0.8

    @pytest.mark.anyio
    async def test_semantic_search_stays_in_its_partition(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        sem = self.semantic(backend)
        a, b, c = (uuid.uuid4().hex for _ in range(3))
        await sem.index(a, prefix + "in-a", unit_vector(1), None)
        await sem.index(b, prefix + "in-b", unit_vector(0.6, 0.8), None)
        in_b = await sem.search(b, unit_vector(1), 0.5)  # a perfect match lives in a only
        assert in_b is not None
        assert in_b.key == prefix + "in-b"
        in_a = await sem.search(a, unit_vector(1), 0.5)
        assert in_a is not None
        assert in_a.key == prefix + "in-a"
        assert await sem.search(c, unit_vector(1), 0.0) is None

    @pytest.mark.anyio
    async def test_semantic_best_match_wins(
        self, backend: AsyncBackend, prefix: str, partition: str
    ) -> None:
        sem = self.semantic(backend)
        query = unit_vector(1)
        candidates = {
            "fair": (0.6, 0.8),
            "best": (0.95, math.sqrt(1 - 0.95**2)),
            "good": (0.8, 0.6),
        }
        for name, (x, y) in candidates.items():
            await sem.index(partition, prefix + name, unit_vector(x, y), None)
        match = await sem.search(partition, query, 0.5)
        assert match is not None
        assert match.key == prefix + "best"
        assert match.similarity == pytest.approx(0.95, abs=1e-3)

    # -- writes ----------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_semantic_reindex_replaces_the_vector(
        self, backend: AsyncBackend, prefix: str, partition: str
    ) -> None:
        sem = self.semantic(backend)
        await sem.index(partition, prefix + "k", unit_vector(1), None)
        await sem.index(partition, prefix + "k", unit_vector(0, 1), None)
        assert await sem.search(partition, unit_vector(1), 0.5) is None  # the old vector is gone
        match = await sem.search(partition, unit_vector(0, 1), 0.5)
        assert match is not None
        assert match.key == prefix + "k"

    @pytest.mark.anyio
    async def test_semantic_reindex_leaves_no_duplicate(
        self, backend: AsyncBackend, prefix: str
    ) -> None:
        sem = self.semantic(backend)
        shortened, extended = uuid.uuid4().hex, uuid.uuid4().hex
        # Same key, same vector: forever, then 0.5 s. A duplicate would outlive it.
        await sem.index(shortened, prefix + "s", unit_vector(1), None)
        await sem.index(shortened, prefix + "s", unit_vector(1), 0.5)
        # And the other way round: 0.5 s, then forever.
        await sem.index(extended, prefix + "e", unit_vector(1), 0.5)
        await sem.index(extended, prefix + "e", unit_vector(1), None)
        await self.advance(backend, 0.7)
        assert await sem.search(shortened, unit_vector(1), 0.5) is None
        match = await sem.search(extended, unit_vector(1), 0.5)
        assert match is not None
        assert match.key == prefix + "e"

    @pytest.mark.anyio
    async def test_semantic_index_entries_expire(
        self, backend: AsyncBackend, prefix: str, partition: str
    ) -> None:
        sem = self.semantic(backend)
        other = uuid.uuid4().hex
        await sem.index(partition, prefix + "short", unit_vector(1), 0.5)
        await sem.index(partition, prefix + "long", unit_vector(0.9, math.sqrt(0.19)), 3600.0)
        await sem.index(other, prefix + "forever", unit_vector(1), None)
        found = await sem.search(partition, unit_vector(1), 0.95)
        assert found is not None
        assert found.key == prefix + "short"  # 0.5 s was not truncated to 0
        await self.advance(backend, 0.7)
        assert await sem.search(partition, unit_vector(1), 0.95) is None  # nor rounded up to 1 s
        fallback = await sem.search(partition, unit_vector(1), 0.85)
        assert fallback is not None
        assert fallback.key == prefix + "long"
        forever = await sem.search(other, unit_vector(1), 0.95)
        assert forever is not None
        assert forever.key == prefix + "forever"

    @pytest.mark.anyio
    async def test_semantic_clear_drops_cleared_entries(
        self, backend: AsyncBackend, prefix: str, partition: str
    ) -> None:
        sem = self.semantic(backend)
        mine, other = prefix + "team-a:1", prefix + "team-b:1"
        other_vector = unit_vector(0.9, math.sqrt(0.19))
        await sem.set(mine, b"mine", None)
        await sem.set(other, b"other", None)
        await sem.index(partition, mine, unit_vector(1), None)
        await sem.index(partition, other, other_vector, None)
        assert await sem.clear(prefix + "team-a:") == 1
        match = await sem.search(partition, unit_vector(1), 0.5)
        # Either the cleared entry is unfindable, or finding it leads to a miss.
        assert match is None or match.key == other or await sem.get(match.key) is None
        kept = await sem.search(partition, other_vector, 0.99)
        assert kept is not None
        assert kept.key == other
        assert await sem.get(other) == b"other"

    # -- concurrency -------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_semantic_concurrent_index_and_search(
        self, backend: AsyncBackend, prefix: str, partition: str
    ) -> None:
        sem = self.semantic(backend)
        found: dict[int, str | None] = {}

        async def worker(i: int) -> None:
            vector = [0.0] * 64
            vector[i] = 1.0
            await sem.index(partition, f"{prefix}c{i}", vector, None)
            match = await sem.search(partition, vector, 0.99)
            found[i] = None if match is None else match.key

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(worker, i)
        assert found == {i: f"{prefix}c{i}" for i in range(40)}
