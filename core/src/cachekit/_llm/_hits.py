"""A hit without an await: the engine's read path, run synchronously, for the one
case that needs nothing awaited.

An in-process (``inline``) backend answers ``get`` without suspending, so its
coroutine can be driven to completion here; a fresh entry that materialises, with
no hit observer listening, is then counted exactly as
:meth:`~cachekit._engine._engine.Engine.read` counts a hit (its ``count_hit`` and
latency sample). Everything else — a miss, a stale or held entry, a corrupt entry,
a value that does not fit, an observer to tell, a backend that would suspend — is
left undecided (``None``, nothing counted): the caller awaits the read path, which
reads again and does what it does. A wrapped hit on the ``local`` backend thus
creates no coroutine of the cache's own; the price is a second in-process ``get``
on every other outcome (a miss among them), which only the read path taking the
bytes already fetched would remove.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

from cachekit._engine._engine import Engine
from cachekit._engine._steps import Materialize, plain_value
from cachekit._engine._steps import materialize as run_materialize
from cachekit._llm._calls import LLMCalls, model_of
from cachekit._llm._requests import Request
from cachekit._policy._controls import CacheControls
from cachekit._policy._envelope import Entry

__all__ = ["hit_now", "lookup_now"]

_perf = time.perf_counter


class _Suspended(Exception):
    """The backend's coroutine would have suspended: not an in-process answer."""


def _now(coro: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that completes without suspending."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise _Suspended


def hit_now(
    engine: Engine,
    key: str,
    call_type: str,
    controls: CacheControls,
    materialize: Materialize,
    model: str | None,
) -> Entry | None:
    """The fresh entry under ``key``, materialised and counted as a hit; ``None`` when
    the read path must decide (see the module docstring)."""
    if not engine.inline or engine.plugins.hook.cachekit_on_hit.get_hookimpls():
        return None
    start = _perf()
    try:
        raw = _now(engine.backend.get(key))
    except Exception:  # the read path meets it again, and maps and reports it
        return None
    if raw is None:
        return None
    entry = engine.open(key, raw, controls)
    if type(entry) is not Entry or entry.stale_s or entry.held:
        return None
    if run_materialize(entry, materialize) is not None:
        return None
    engine.count_hit(call_type, key, entry, model)
    engine.stats.get_latency.append(_perf() - start)
    return entry


def lookup_now(
    calls: LLMCalls, request: Request, materialize: Materialize = plain_value
) -> Entry | None:
    """:meth:`LLMCalls.lookup` without awaiting, when nothing but the engine's read path
    is involved: no ``no-cache``, no ``get_cache`` override, no semantic index; then
    :func:`hit_now`. ``None``: await :meth:`LLMCalls.fetch` (a miss among them)."""
    if (
        request.controls.no_cache
        or calls.semantic is not None
        or (calls.has_overrides and calls.override("get") is not None)
    ):
        return None
    return hit_now(
        calls.engine,
        request.key,
        request.call_type,
        request.controls,
        materialize,
        model_of(request),
    )
