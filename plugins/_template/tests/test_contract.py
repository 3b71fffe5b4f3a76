"""The backend contract suite, run against the template backend.

Every plugin keeps a file like this one: subclass ``BackendContract`` and give it
a ``make_backend`` fixture that builds a backend on the real store. The template
stores in a dict and takes an injectable clock, so TTL tests advance a fake clock
instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cachekit import AsyncBackend
from cachekit.testing import BackendContract, FakeClock
from cachekit_template import TemplateBackend


class TestContract(BackendContract):
    # The dict needs no event loop of its own, so trio is free to add.
    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def make_backend(self, clock: FakeClock) -> Callable[[], AsyncBackend]:
        return lambda: TemplateBackend(clock=clock)

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        assert isinstance(backend, TemplateBackend)
        clock = backend._clock
        assert isinstance(clock, FakeClock)
        clock.advance(seconds)
