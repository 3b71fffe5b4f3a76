"""The wrapper's stale steps: starting the background refresh after a stale hit, on
the async face and the sync face (see :mod:`cachekit._llm._revalidate` for how
refreshes are run, deduplicated and closed).

A refresh re-runs the wrapped call as a forced refresh (``no-cache``) through the
wrapper's own path, so it stores exactly what a miss would; a refreshed stream is
read to its end (which stores it) by the refresh itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio

from cachekit._engine._runner import run_on_loop_thread
from cachekit._llm._embeddings import item_id
from cachekit._llm._streams import is_async_stream, is_sync_stream
from cachekit._llm._wrapped_call import WrappedCall

__all__ = ["revalidate", "revalidate_sync"]


def _refresh_of(call: WrappedCall) -> tuple[str, float, WrappedCall] | None:
    """The refresh's dedupe key, the stale entry's write time and the call to re-run;
    ``None`` when a refresh already covers the entry (checked before copying)."""
    written = call.stale_at
    if written is None:
        return None
    if call.stale_items:  # per-item embeddings: refresh only the stale items, together
        by_item = {item_id(r.kwargs["input"][0]): r.key for r in call.requests}
        key = "\x1f".join(sorted(by_item[item_id(item)] for item in call.stale_items))
        inputs: list[Any] | None = list(call.stale_items)
    elif call.request is not None:
        key, inputs = call.request.key, None
    else:
        return None
    if call.calls.revalidator.covered(key, written):
        return None
    return key, written, call.refresh_copy(inputs)


def revalidate(call: WrappedCall, rerun: Callable[[WrappedCall], Any]) -> None:
    """After a stale hit on the async face: refresh in the background (on this loop).
    ``rerun`` returns an awaitable answer, or an async iterator (a generator's stream)."""
    found = _refresh_of(call)
    if found is None:
        return
    key, written, again = found

    async def refresh() -> None:
        result = rerun(again)
        if inspect.isawaitable(result):
            result = await result
        if again.streaming and is_async_stream(result):
            async for _ in result:  # a recorded stream is stored when it ends
                pass

    call.calls.revalidator.schedule(key, written, again.call_type, refresh)


def revalidate_sync(call: WrappedCall, rerun: Callable[[WrappedCall], Any]) -> None:
    """After a stale hit on the sync face: refresh on the private loop thread, whose
    task runs the blocking provider call in a worker thread."""
    found = _refresh_of(call)
    if found is None:
        return
    key, written, again = found

    def blocking() -> None:
        result = rerun(again)
        if again.streaming and is_sync_stream(result):
            for _ in result:
                pass

    async def refresh() -> None:
        await anyio.to_thread.run_sync(blocking)

    revalidator = call.calls.revalidator
    run_on_loop_thread(revalidator.schedule_soon(key, written, again.call_type, refresh))
