"""The chokepoint every backend operation goes through: one-time set-up (outside the
per-operation timeout), the circuit breaker, the timeout, and error mapping — every
failure leaves as a :class:`~cachekit.CacheKitError`.

In-process (``inline``) backends skip the breaker, the timeout and the set-up: their
operations cannot hang and their failures are bugs, not outages. A caller's own
cancellation (a deadline, a client gone) counts as a failure and releases a
half-open probe, so a cancelled probe never keeps the circuit open.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from cachekit._engine._breaker import CircuitBreaker
from cachekit._storage._backend import AsyncBackend
from cachekit.exceptions import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
)

__all__ = ["CONNECT_TIMEOUT", "Chokepoint"]

T = TypeVar("T")

#: Bound of a backend's one-time set-up (``AsyncBackend.connect``), in seconds.
CONNECT_TIMEOUT = 30.0


def _running_asyncio() -> bool:
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio.events._get_running_loop() is not None


def _asyncio_timeout(seconds: float) -> Any:
    import asyncio

    return asyncio.timeout(seconds)


class Chokepoint:
    """Runs the operations of one backend (see the module docstring)."""

    __slots__ = ("backend", "breaker", "inline", "name", "timeout")

    def __init__(
        self, backend: AsyncBackend, name: str, timeout: float | None, breaker: CircuitBreaker
    ) -> None:
        self.backend = backend
        self.name = name
        self.timeout = timeout
        self.breaker = breaker
        self.inline = backend.inline

    async def run(
        self, op: str, call: Callable[..., Awaitable[T]], *args: Any, bound: float | None = None
    ) -> T:
        """Run one backend operation ``call(*args)`` named ``op``, bounded by the
        operation timeout (or by ``bound`` seconds: a lock ``wait`` blocks by design)."""
        if self.inline:
            try:
                return await call(*args)
            except Exception as exc:
                raise self.mapped(op, exc) from exc
        breaker = self.breaker
        if not breaker.allow():
            raise BackendUnavailableError(
                f"{self.name} backend is failing; circuit open, skipping {op} without I/O"
            )
        try:
            await self._connect()
            limit = self.timeout if bound is None else bound
            if limit is None:
                result = await call(*args)
            elif _running_asyncio():
                # asyncio's own timeout costs a third of anyio.fail_after per operation
                async with _asyncio_timeout(limit):
                    result = await call(*args)
            else:
                with anyio.fail_after(limit):
                    result = await call(*args)
        except CacheKitError:
            breaker.failure()
            raise
        except TimeoutError:
            breaker.failure()
            raise BackendTimeoutError(
                f"{self.name} {op} took longer than {self.timeout if bound is None else bound} s"
            ) from None
        except Exception as exc:
            breaker.failure()
            raise self.mapped(op, exc) from exc
        except BaseException:  # cancelled by the caller: release a probe, count it
            breaker.failure()
            raise
        breaker.success()
        return result

    async def _connect(self) -> None:
        """The backend's one-time set-up: not an operation, so outside the op timeout."""
        try:
            with anyio.fail_after(CONNECT_TIMEOUT):
                await self.backend.connect()
        except TimeoutError:
            raise BackendUnavailableError(
                f"{self.name} backend set-up took longer than {CONNECT_TIMEOUT} s"
            ) from None

    def mapped(self, op: str, exc: Exception) -> CacheKitError:
        """A backend's exception as one of ours (ours pass through unchanged)."""
        if isinstance(exc, CacheKitError):
            return exc
        return BackendError(f"{self.name} {op} failed: {type(exc).__name__}: {exc}")
