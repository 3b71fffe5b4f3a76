"""Distributed single-flight: concurrent identical misses in several processes (and
machines) make one provider call, through the backend's lock capability
(:class:`~cachekit.AsyncBackend`: ``acquire``, ``renew``, ``release``, ``wait``).

The lock is the entry's key for a whole response, or a digest of the missing items'
keys for an embedding batch (whose waiters re-read those items). It runs inside the
in-process flight (:mod:`._singleflight`): per process only the
in-process leader of a key takes part, so N processes x M callers put N contenders
on the backend, not N x M. For one key:

1. **Acquire** the key's lock for ``lease`` seconds. The winner re-reads the entry
   (another process may have stored it between this process's miss and its lock),
   calls the provider, stores, then **releases**, which wakes every waiter. While
   the call runs the lease is renewed every ``lease / 3`` seconds, so a short lease
   (a quick take-over when a leader dies) never runs out under a long call.
2. The others **wait**: notified by the release, or until the lease runs out (a
   leader that died), then re-read the entry. A hit ends the wait; a miss, and they
   try to acquire again: one of them wins, the rest wait on it. A dead or failing
   leader therefore hands over to one successor at a time, never to a stampede. A
   leader whose provider call fails releases at once (its own callers get the
   exception); the waiters retry leadership one at a time, so a provider that is
   down sees one call per round, not one per waiter.
3. A waiter that has waited ``wait`` seconds in all calls the provider itself (and
   stores): no caller waits longer than that, whatever happens to the others.

Fail-open: a lock operation that fails (backend down or slow, circuit open) is
reported like any backend failure (an error event, one WARNING per kind) and the
call goes on without coordination (uncached if the store fails too). Requests with
``no-cache`` skip the lock (each wants a fresh answer), and so do ``no-store`` ones
(their waiters would find nothing to read).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio

from cachekit._engine._engine import Engine
from cachekit._storage._backend import AsyncBackend
from cachekit.exceptions import CacheKitError

__all__ = ["DEFAULT_LEASE", "DEFAULT_WAIT", "SINGLE_FLIGHT_MODES", "DistributedFlight"]

SINGLE_FLIGHT_MODES = ("process", "distributed")
#: Lock lease, seconds: how soon waiters take over from a leader that died. Renewed
#: every third of it while the provider call runs, so it does not bound the call.
DEFAULT_LEASE = 10.0
#: The longest a caller waits for another process's call before calling itself.
DEFAULT_WAIT = 120.0

_perf = time.perf_counter
_monotonic = time.monotonic

Produce = Callable[[], Awaitable[Any]]
#: Re-reads the entry: its value, or the ``miss`` object given to :meth:`DistributedFlight.run`.
Recheck = Callable[[], Awaitable[Any]]


class DistributedFlight:
    """One cache's distributed single-flight (see the module docstring)."""

    __slots__ = ("backend", "engine", "lease", "wait")

    def __init__(self, engine: Engine, backend: AsyncBackend, lease: float, wait: float) -> None:
        self.engine = engine
        self.backend = backend  # the lock holder (the L2 behind an L1 tier)
        self.lease = lease
        self.wait = wait

    async def run(
        self, call_type: str, key: str, miss: Any, recheck: Recheck, produce: Produce
    ) -> Any:
        """``produce()``'s result, or the entry another process stored meanwhile."""
        token, found = await self.claim(call_type, key, miss, recheck)
        if found is not miss:
            return found
        if token is None:  # waited long enough, or the lock failed: call uncoordinated
            return await produce()
        try:
            return await self._renewing(call_type, key, token, produce)
        finally:
            await self.release(call_type, key, token)

    def run_sync(
        self,
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        call_type: str,
        key: str,
        miss: Any,
        recheck: Recheck,
        produce: Callable[[], Any],
    ) -> Any:
        """:meth:`run` for a sync provider call, made in the calling thread; the lock
        operations run through ``run`` (the engine's loop thread), the lease is renewed
        from a helper thread."""
        token, found = run(self.claim(call_type, key, miss, recheck))
        if found is not miss:
            return found
        if token is None:
            return produce()
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew_sync, args=(run, call_type, key, token, stop), daemon=True
        )
        renewer.start()
        try:
            return produce()
        finally:
            stop.set()
            renewer.join()
            run(self.release(call_type, key, token))

    async def claim(
        self, call_type: str, key: str, miss: Any, recheck: Recheck
    ) -> tuple[str | None, Any]:
        """Wait for the lock of ``key``: ``(token, miss)`` to lead, ``(None, entry)`` when
        another process stored it, ``(None, miss)`` to call the provider uncoordinated
        (``wait`` seconds passed, or a lock operation failed)."""
        io = self.engine.io
        backend = self.backend
        deadline = _monotonic() + self.wait
        while True:
            try:
                token = await io("acquire", backend.acquire, key, self.lease)
            except CacheKitError as exc:
                await self._failed(call_type, key, exc)
                return None, miss
            if token is not None:
                try:
                    found = await recheck()  # stored by another process since our miss?
                except BaseException:
                    await self.release(call_type, key, token)
                    raise
                if found is not miss:
                    await self.release(call_type, key, token)
                return (None, found) if found is not miss else (token, miss)
            remaining = deadline - _monotonic()
            if remaining <= 0:
                return None, miss
            timeout = min(remaining, self.lease)
            op_timeout = self.engine.timeout
            bound = None if op_timeout is None else timeout + op_timeout
            try:
                await io("wait", backend.wait, key, timeout, bound=bound)
            except CacheKitError as exc:
                await self._failed(call_type, key, exc)
                return None, miss
            found = await recheck()
            if found is not miss:
                return None, found

    async def release(self, call_type: str, key: str, token: str) -> None:
        """Free the lock and wake the waiters (even when the leader is cancelled)."""
        with anyio.CancelScope(shield=True):
            try:
                await self.engine.io("release", self.backend.release, key, token)
            except CacheKitError as exc:
                await self._failed(call_type, key, exc)

    async def _renewing(self, call_type: str, key: str, token: str, produce: Produce) -> Any:
        """``produce()`` while the lease is renewed in the background."""
        error: Exception | None = None
        result: Any = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._renew, call_type, key, token)
            try:
                result = await produce()
            except Exception as exc:  # raised below, outside the task group (not grouped)
                error = exc
            finally:
                tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    async def _renew(self, call_type: str, key: str, token: str) -> None:
        while True:
            await anyio.sleep(self.lease / 3)
            if not await self._renew_once(call_type, key, token):
                return

    def _renew_sync(
        self,
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        call_type: str,
        key: str,
        token: str,
        stop: threading.Event,
    ) -> None:
        while not stop.wait(self.lease / 3):
            if not run(self._renew_once(call_type, key, token)):
                return

    async def _renew_once(self, call_type: str, key: str, token: str) -> bool:
        """Extend the lease; whether to go on (``False``: lost, or the backend failed)."""
        try:
            return bool(await self.engine.io("renew", self.backend.renew, key, token, self.lease))
        except CacheKitError as exc:
            await self._failed(call_type, key, exc)
            return False

    async def _failed(self, call_type: str, key: str, error: CacheKitError) -> None:
        await self.engine.error(call_type, key, _perf(), error, stage="lock")
