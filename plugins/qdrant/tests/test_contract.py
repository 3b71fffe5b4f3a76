"""``qdrant-semantic`` keeps both contracts (bytes and vectors): in qdrant-client's
embedded local mode in memory (asyncio and trio) and on disk, and on a Qdrant server
when ``CACHEKIT_QDRANT_URL`` is set. Lifetimes use an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cachekit import AsyncBackend
from cachekit.testing import FakeClock, SemanticBackendContract
from cachekit_qdrant import QdrantSemanticBackend


class _ClockedContract(SemanticBackendContract):
    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        assert isinstance(backend, QdrantSemanticBackend)
        backend._clock.advance(seconds)  # type: ignore[attr-defined]


class TestLocalMemoryContract(_ClockedContract):
    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def make_backend(self, clock: FakeClock) -> Callable[[], AsyncBackend]:
        return lambda: QdrantSemanticBackend(clock=clock)


class TestLocalPathContract(_ClockedContract):
    @pytest.fixture
    def make_backend(self, clock: FakeClock, tmp_path: Path) -> Callable[[], AsyncBackend]:
        return lambda: QdrantSemanticBackend(qdrant_path=str(tmp_path / "qdrant"), clock=clock)


class TestServerContract(_ClockedContract):
    @pytest.fixture
    def make_backend(
        self, clock: FakeClock, qdrant_url: str, server_collection: str
    ) -> Callable[[], AsyncBackend]:
        return lambda: QdrantSemanticBackend(
            qdrant_api_base=qdrant_url, qdrant_collection_name=server_collection, clock=clock
        )
