"""The lock capability's part of the backend contract (``single_flight="distributed"``).

Runs only for backends that declare ``can_lock = True``; the others skip it. Part of
:class:`cachekit.testing.BackendContract`, so every backend's suite runs it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import pytest

from cachekit._storage._backend import AsyncBackend

__all__ = ["LockContract"]

T = TypeVar("T")


def _lock_name() -> str:
    return f"cachekit:v2:contract-{uuid.uuid4().hex[:12]}:lock-me"


def _needs_lock(backend: AsyncBackend) -> None:
    if not backend.can_lock:
        pytest.skip(f"{type(backend).__name__} does not declare the lock capability")


async def _concurrently(
    n: int, call: Callable[[], Awaitable[T]], then: Callable[[], Awaitable[Any]] | None = None
) -> list[T]:
    """``call()`` in ``n`` tasks; ``then()`` once every task blocks (none has returned)."""
    results: list[T] = []

    async def one() -> None:
        results.append(await call())

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
        if then is not None:
            await anyio.wait_all_tasks_blocked()
            assert results == []
            await then()
    return results


class LockContract:
    """acquire / renew / release / wait, as :class:`cachekit.AsyncBackend` documents them."""

    @pytest.fixture
    async def held(self, backend: AsyncBackend) -> tuple[str, str]:
        """A lock taken for 30 s: its name and token (skips backends that cannot lock)."""
        _needs_lock(backend)
        name = _lock_name()
        token = await backend.acquire(name, 30.0)
        assert token is not None
        return name, token

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        await anyio.sleep(seconds)

    @pytest.mark.anyio
    async def test_lock_has_one_holder_at_a_time(self, backend: AsyncBackend) -> None:
        _needs_lock(backend)
        name = _lock_name()
        tokens = await _concurrently(20, lambda: backend.acquire(name, 30.0))
        winners = [t for t in tokens if t is not None]
        assert len(winners) == 1 and isinstance(winners[0], str)
        assert await backend.release(name, winners[0]) is True
        again = await backend.acquire(name, 30.0)
        assert again is not None and again != winners[0]  # a fresh token per holder
        assert await backend.release(name, again) is True

    @pytest.mark.anyio
    async def test_only_the_holder_renews_or_releases(
        self, backend: AsyncBackend, held: tuple[str, str]
    ) -> None:
        name, token = held
        assert await backend.release(name, "not-the-token") is False
        assert await backend.renew(name, "not-the-token", 30.0) is False
        assert await backend.acquire(name, 30.0) is None  # still held
        assert await backend.renew(name, token, 30.0) is True
        assert await backend.release(name, token) is True
        assert await backend.release(name, token) is False  # released once

    @pytest.mark.anyio
    async def test_a_lease_ends_by_itself(self, backend: AsyncBackend) -> None:
        _needs_lock(backend)
        name = _lock_name()
        token = await backend.acquire(name, 0.3)
        assert token is not None
        await self.advance(backend, 0.5)
        successor = await backend.acquire(name, 30.0)
        assert successor is not None  # the holder died: its lease ended
        assert await backend.release(name, token) is False  # never frees its successor's lock
        assert await backend.acquire(name, 30.0) is None
        assert await backend.release(name, successor) is True

    @pytest.mark.anyio
    async def test_release_wakes_every_waiter(
        self, backend: AsyncBackend, held: tuple[str, str]
    ) -> None:
        name, token = held
        woken = await _concurrently(
            5, lambda: backend.wait(name, 30.0), then=lambda: backend.release(name, token)
        )
        assert woken == [True] * 5

    @pytest.mark.anyio
    async def test_wait_returns_at_once_when_not_held(
        self, backend: AsyncBackend, held: tuple[str, str]
    ) -> None:
        name, token = held
        await backend.release(name, token)  # before the wait: must not be missed
        with anyio.fail_after(10):  # a guard: the lease (30 s) is never waited for
            assert await backend.wait(name, 30.0) is True
            assert await backend.wait(_lock_name(), 30.0) is True  # never taken

    @pytest.mark.anyio
    async def test_wait_times_out_while_held(
        self, backend: AsyncBackend, held: tuple[str, str]
    ) -> None:
        name, token = held
        assert await backend.wait(name, 0.2) is False
        assert await backend.release(name, token) is True
