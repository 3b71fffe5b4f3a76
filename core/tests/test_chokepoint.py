"""The chokepoint's set-up step: a backend's ``connect`` runs before its operations,
outside the per-operation timeout; backends without one skip the step entirely."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from cachekit import Cache, hookimpl

from ._support import FaultyBackend, plugin_manager

pytestmark = pytest.mark.anyio


class SlowStartBackend(FaultyBackend):
    """A store (a real LocalBackend) whose one-time set-up takes longer than an
    operation may."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.connects = 0
        self.ready = False

    async def connect(self) -> None:
        self.connects += 1
        if not self.ready:
            await anyio.sleep(0.2)  # longer than Cache(timeout=0.05): not an operation
            self.ready = True

    async def _enter(self, op: str) -> str | None:
        assert self.ready, "an operation ran before set-up"
        return await super()._enter(op)


class SlowStartPlugin:
    @hookimpl
    def cachekit_register_backends(
        self, register: Callable[[str, Callable[..., Any]], None]
    ) -> None:
        register("slow-start", SlowStartBackend)


async def test_connect_runs_before_operations_outside_the_timeout() -> None:
    cache = Cache(type="slow-start", plugins=plugin_manager(SlowStartPlugin()), timeout=0.05)
    await cache.aset("k", {"v": 1})
    assert await cache.aget("k") == {"v": 1}
    backend = cache.backend
    assert isinstance(backend, SlowStartBackend)
    assert backend.connects == 2  # before each operation; idempotent once done


async def test_backends_without_set_up_skip_the_step() -> None:
    cache = Cache(type="faulty", plugins=plugin_manager())
    assert cache._engine.chokepoint._connects is False
    assert Cache(
        type="slow-start", plugins=plugin_manager(SlowStartPlugin())
    )._engine.chokepoint._connects
