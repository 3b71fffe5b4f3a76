"""The contract suite every :class:`cachekit.SemanticBackend` passes."""

from __future__ import annotations

import math
import uuid

import anyio
import pytest

from cachekit._semantic._backend import SemanticBackend
from cachekit._storage._backend import AsyncBackend
from cachekit.testing._contract import BackendContract, unit_vector

__all__ = ["SemanticBackendContract"]


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
