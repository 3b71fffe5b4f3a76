from __future__ import annotations

from collections.abc import Callable

import pytest
from cachekit import AsyncBackend, LocalBackend
from cachekit.testing import BackendContract, FakeClock


class TestLocalContract(BackendContract):
    """The local backend runs the contract on asyncio and trio, with a fake clock."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def make_backend(self, clock: FakeClock) -> Callable[[], AsyncBackend]:
        return lambda: LocalBackend(clock=clock)

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        assert isinstance(backend, LocalBackend)
        backend._clock.advance(seconds)  # type: ignore[attr-defined]
