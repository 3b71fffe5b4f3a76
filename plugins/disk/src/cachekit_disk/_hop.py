"""One hop to a worker thread per operation, as cheap as it can be on asyncio.

``loop.run_in_executor`` goes through a ``concurrent.futures.Future`` (a condition
variable, callbacks chained back with ``wrap_future``): measured on the benchmark
machine, a do-nothing hop cost ~75 µs that way and ~34 µs like this: the worker
takes ``(function, arguments, loop, future)`` from a ``SimpleQueue`` and hands the
result back with one ``call_soon_threadsafe``. Threads start on demand, up to a
bound, and are shared by every event loop that uses the backend (the sync face of
``Cache`` runs its own), so nothing here is bound to a loop.

A cancelled caller (``Cache(timeout=)``) stops waiting at once; its function still
runs to the end in the worker and the result is dropped. That is safe for the disk
store, whose writes are atomic renames.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ThreadHop"]

T = TypeVar("T")

_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _reject(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class ThreadHop:
    """A small pool of daemon worker threads fed through one queue."""

    def __init__(self, max_threads: int, name: str) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._max_threads = max_threads
        self._name = name
        self._threads = 0
        self._idle = 0  # approximate (updated without a lock): only decides spawning
        self._lock = threading.Lock()

    async def run(self, loop: asyncio.AbstractEventLoop, func: Callable[..., T], *args: Any) -> T:
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((func, args, loop, future))
        if self._idle <= 0 and self._threads < self._max_threads:
            self._spawn()
        return await future

    def _spawn(self) -> None:
        with self._lock:
            if self._threads >= self._max_threads:
                return
            self._threads += 1
            number = self._threads
        threading.Thread(target=self._work, name=f"{self._name}-{number}", daemon=True).start()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            self._idle += 1
            job = get()
            self._idle -= 1
            if job is None:
                return
            func, args, loop, future = job
            callback: Callable[[asyncio.Future[Any], Any], None]
            try:
                value = func(*args)
                callback = _resolve
            except BaseException as exc:
                value, callback = exc, _reject
            # The loop may have closed meanwhile: then nobody waits.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, future, value)
            del job, func, args, loop, future, value

    def shutdown(self) -> None:
        """Let the workers finish what they hold and exit (does not wait)."""
        with self._lock:
            count, self._threads = self._threads, 0
        for _ in range(count):
            self._queue.put(None)
