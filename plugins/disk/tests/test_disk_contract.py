"""The core's backend contract, run against a real directory on asyncio and trio.

Expiry uses an injected wall clock (``FakeClock``), so TTL tests do not sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cachekit import AsyncBackend
from cachekit.testing import BackendContract, FakeClock
from cachekit_disk import DiskBackend


class TestDiskContract(BackendContract):
    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def make_backend(self, tmp_path: Path, clock: FakeClock) -> Callable[[], AsyncBackend]:
        return lambda: DiskBackend(disk_cache_dir=tmp_path, clock=clock)

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        assert isinstance(backend, DiskBackend)
        clock = backend._clock
        assert isinstance(clock, FakeClock)
        clock.advance(seconds)


class TestDiskContractWithCap(TestDiskContract):
    """The same contract with a size cap on (the locked, counted write path)."""

    @pytest.fixture
    def make_backend(self, tmp_path: Path, clock: FakeClock) -> Callable[[], AsyncBackend]:
        return lambda: DiskBackend(disk_cache_dir=tmp_path, clock=clock, max_size_bytes=64 << 20)
