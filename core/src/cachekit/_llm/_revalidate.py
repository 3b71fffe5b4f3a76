"""Background refreshes for ``stale-while-revalidate``: at most one per key, never
awaited by the caller that was served the stale entry.

**One refresh per key.** A refresh is scheduled only when none for that key runs on
this event loop and none started after the stale entry being served was written
(by the cache's clock): a caller whose slow read returned the old entry after a
refresh already replaced it does not start another. A failed refresh forgets its
start, so the next stale hit may try again (still one at a time).

**Tasks (one design per async library, picked by the running loop).**

* asyncio: a task on the running loop; the revalidator holds a strong reference
  until it ends (the loop itself keeps only weak ones).
* trio: ``trio.lowlevel.spawn_system_task`` inside a cancel scope the revalidator
  owns: no nursery has to be threaded through the caller, and the task is
  cancelled when the run ends. The task never lets an exception escape.
* the sync face: the stale hit schedules its refresh on the private loop thread
  (:mod:`cachekit._engine._runner`), whose task runs the blocking provider call in
  a worker thread.

:meth:`Revalidator.wait` waits for the refreshes of the current loop;
:meth:`Revalidator.aclose` (called by ``Cache.aclose``) cancels every refresh —
the stale entry stays — and waits for those of the current loop to end.

A refresh is the wrapped call re-run with ``no-cache`` (so it goes through the
same single-flight and write steps as a forced refresh); its store and error
events carry ``refresh=True``; ``stats()`` counts ``refreshes`` and
``refresh_failures``; a failure also logs one WARNING per cache.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from cachekit._engine._engine import Engine
from cachekit._engine._events import REFRESHING

__all__ = ["Revalidator", "current_loop"]

#: Keys whose last refresh start is remembered (the oldest are forgotten first).
_REMEMBERED = 4096

_perf = time.perf_counter


def current_loop() -> Any | None:
    """The running event loop (an asyncio loop or a trio token), or ``None``."""
    try:
        import asyncio  # already loaded when an asyncio loop runs

        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        import trio

        return trio.lowlevel.current_trio_token()
    except (ImportError, RuntimeError):
        return None


class _Refresh:
    __slots__ = ("cancel", "done", "handle", "loop")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.done = anyio.Event()
        self.handle: Any = None  # the asyncio task, or the trio cancel scope
        self.cancel: Callable[[], None] = lambda: None


class Revalidator:
    """The background refreshes of one cache (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._running: dict[tuple[int, str], _Refresh] = {}
        self._started: OrderedDict[str, float] = OrderedDict()

    def covered(self, key: str, written_at: float) -> bool:
        """Whether a refresh of ``key`` started after the entry written at ``written_at``
        (running, or done: it replaced that entry). Cheap: checked on every stale hit."""
        started = self._started.get(key)
        return started is not None and started > written_at

    def schedule(
        self, key: str, written_at: float, call_type: str, work: Callable[[], Awaitable[Any]]
    ) -> None:
        """Start ``work`` in the background unless a refresh of ``key`` already covers
        the entry written at ``written_at``. Call from inside an event loop."""
        if self.covered(key, written_at):
            return
        loop = current_loop()
        if loop is None:  # not inside a loop: nothing can run in the background
            return
        slot = (id(loop), key)
        if slot in self._running:
            return
        self._started[key] = self.engine.clock()
        self._started.move_to_end(key)
        while len(self._started) > _REMEMBERED:
            self._started.popitem(last=False)
        refresh = self._running[slot] = _Refresh(loop)
        job = self._run(slot, key, call_type, work, refresh)
        if hasattr(loop, "create_task"):
            task = refresh.handle = loop.create_task(job)
            refresh.cancel = lambda: loop.call_soon_threadsafe(task.cancel)
        else:
            _spawn_trio(loop, job, refresh)

    async def schedule_soon(
        self, key: str, written_at: float, call_type: str, work: Callable[[], Awaitable[Any]]
    ) -> None:
        """:meth:`schedule`, as a coroutine (what the sync face runs on its loop thread)."""
        self.schedule(key, written_at, call_type, work)

    async def _run(
        self,
        slot: tuple[int, str],
        key: str,
        call_type: str,
        work: Callable[[], Awaitable[Any]],
        refresh: _Refresh,
    ) -> None:
        engine = self.engine
        token = REFRESHING.set(True)
        start = _perf()
        try:
            await work()
        except Exception as exc:  # the stale entry stays; counted, reported, warned once
            self._started.pop(key, None)
            engine.stats.refresh_failures += 1
            await engine.error(call_type, key, start, exc, stage="refresh")
        else:
            engine.stats.refreshes += 1
        finally:
            REFRESHING.reset(token)
            del self._running[slot]
            refresh.done.set()

    async def wait(self) -> None:
        """Wait until no refresh runs on the current event loop."""
        loop = current_loop()
        while pending := [r for r in list(self._running.values()) if r.loop is loop]:
            for refresh in pending:
                await refresh.done.wait()

    async def aclose(self) -> None:
        """Cancel every refresh (on any loop) and wait for those of the current loop."""
        for refresh in list(self._running.values()):
            with contextlib.suppress(RuntimeError):  # its loop or trio run has ended
                refresh.cancel()
        if current_loop() is not None:
            await self.wait()


def _spawn_trio(token: Any, job: Awaitable[Any], refresh: _Refresh) -> None:
    import trio

    scope = refresh.handle = trio.CancelScope()

    async def system_task() -> None:
        with scope:
            await job

    trio.lowlevel.spawn_system_task(system_task, name="cachekit-refresh")
    refresh.cancel = lambda: token.run_sync_soon(scope.cancel)
