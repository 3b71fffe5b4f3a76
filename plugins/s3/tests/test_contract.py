"""The core's backend contract, against moto's S3 server, with an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cachekit import AsyncBackend
from cachekit.testing import BackendContract, FakeClock
from cachekit_s3 import S3Backend


class TestS3Contract(BackendContract):
    @pytest.fixture
    def make_backend(self, s3_options: dict[str, Any]) -> Callable[[], AsyncBackend]:
        return lambda: S3Backend(**s3_options, clock=FakeClock())

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        assert isinstance(backend, S3Backend)
        clock = backend._clock
        assert isinstance(clock, FakeClock)
        clock.advance(seconds)
