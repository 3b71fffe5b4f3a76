"""Waiting for the cache writes LiteLLM runs in the background.

LiteLLM stores the result of an async call (``acompletion``, ``aembedding``…) in a
task it starts as the call returns, and a finished async stream in a task that its
stream wrapper starts, whichever cache is ``litellm.cache``: the very next identical
call can still miss. Code that needs the entry now (a test, a script about to exit, a
benchmark priming a cache) awaits :func:`wait_for_writes`.
"""

from __future__ import annotations

import asyncio

__all__ = ["wait_for_writes"]

#: The coroutine LiteLLM's async stream wrapper runs as a task to store a stream.
_STREAM_WRITE = "CustomStreamWrapper.async_cache_streaming_response"


def _pending(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[object]]:
    from litellm.caching.caching_handler import _PENDING_CACHE_WRITES

    current = asyncio.current_task()
    pending: list[asyncio.Task[object]] = [
        t for t in _PENDING_CACHE_WRITES if not t.done() and t.get_loop() is loop
    ]
    for task in asyncio.all_tasks(loop):
        name = getattr(task.get_coro(), "__qualname__", "")
        if task is not current and not task.done() and name == _STREAM_WRITE:
            pending.append(task)
    return pending


async def wait_for_writes() -> None:
    """Wait until every cache write LiteLLM has started on this event loop is done
    (writes fail open: a failed one is reported, never raised here)."""
    loop = asyncio.get_running_loop()
    while pending := _pending(loop):
        await asyncio.wait(pending)
