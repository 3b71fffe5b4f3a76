"""The sync face: run the async implementation from plain synchronous code.

Two ways, chosen per backend:

* **inline** for backends whose methods never suspend (``AsyncBackend.inline``,
  e.g. ``local``): the coroutine is driven to completion in the calling thread
  with ``coro.send(None)``, no event loop and no thread hop (sub-microsecond);
* **loop thread** for everything else: one process-wide daemon thread runs an
  asyncio loop and the calling thread blocks on the result (a blocking portal).
  Backends must therefore cope with being used from more than one loop.

An async observer met while driving inline is handed to the loop thread.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

from cachekit._engine._events import INLINE

__all__ = ["run_inline", "run_on_loop_thread", "submit_to_loop_thread"]

T = TypeVar("T")


class _LoopThread:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        import asyncio  # imported on first sync use, not at import time

        loop = self._loop
        if loop is None or loop.is_closed():
            with self._lock:
                loop = self._loop
                if loop is None or loop.is_closed():
                    loop = asyncio.new_event_loop()
                    ready = threading.Event()

                    def serve(lp: asyncio.AbstractEventLoop = loop) -> None:
                        asyncio.set_event_loop(lp)
                        lp.call_soon(ready.set)
                        lp.run_forever()

                    threading.Thread(target=serve, name="cachekit-loop", daemon=True).start()
                    ready.wait()
                    self._loop = loop
        return loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop thread without waiting for it."""
        import asyncio

        # Run in a copy of the caller's context (so context variables such as the
        # override guard carry over) minus sniffio's "current async library", which
        # would make anyio on this asyncio loop think it is running under trio.
        ctx = contextvars.copy_context()
        sniffio = sys.modules.get("sniffio")
        if sniffio is not None:
            ctx.run(sniffio.current_async_library_cvar.set, None)
        return ctx.run(asyncio.run_coroutine_threadsafe, coro, self.loop())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        import asyncio

        loop = self.loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("cachekit's sync API cannot be called from its own loop thread")
        return self.submit(coro).result()


_loop_thread = _LoopThread()


def run_on_loop_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the shared loop thread and block until it finishes."""
    return _loop_thread.run(coro)


def submit_to_loop_thread(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start ``coro`` on the shared loop thread (background work); return its future."""
    return _loop_thread.submit(coro)


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _run_awaitable(awaitable: Awaitable[Any]) -> Any:
    return _loop_thread.run(_await(awaitable))


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends to completion in this thread."""
    token = INLINE.set(_run_awaitable)
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        INLINE.reset(token)
    coro.close()
    raise RuntimeError("a cachekit operation marked inline suspended; this is a bug")
