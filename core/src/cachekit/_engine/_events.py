"""Cache events and the one helper that delivers them to observers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import pluggy

__all__ = ["REFRESHING", "CacheEvent", "EventKind", "StaleKind", "emit", "observers_of"]

logger = logging.getLogger("cachekit")

EventKind = Literal["hit", "miss", "store", "error"]

#: Why a hit was served past its freshness (see :class:`CacheEvent`).
StaleKind = Literal["while-revalidate", "if-error"]

#: Set while a background refresh runs (its store and error events say so).
REFRESHING: ContextVar[bool] = ContextVar("cachekit_refreshing", default=False)

#: Set while a coroutine is being driven without an event loop (the sync face over
#: an in-process backend); an async observer is then run on the private loop thread.
INLINE: ContextVar[Callable[[Awaitable[Any]], Any] | None] = ContextVar(
    "cachekit_inline", default=None
)


@dataclass(frozen=True, slots=True)
class CacheEvent:
    """What an observer receives. Immutable; carries no credentials.

    ``key`` is the full storage key as ``get_cache_key`` returns it; ``call_type``
    is the call family (``"completion"`` for ``acompletion`` too; ``"kv"`` for the
    key-value API); ``backend`` the backend type name. ``model`` is the request's
    model when known (LLM calls). A hit also says what it saved: ``tokens_saved``
    (total tokens of the stored response's usage; ``prompt_tokens_saved`` and
    ``completion_tokens_saved`` split it when the usage does), ``latency_saved_s`` (how
    long the provider took for it) and ``cost_saved`` (dollars, only with
    ``Cache(pricing=)``).

    Staleness (``stale-while-revalidate``/``stale-if-error``): ``stale`` is ``None`` on
    a fresh hit; ``"while-revalidate"`` on a hit served past its freshness while a
    background refresh runs; ``"if-error"`` on a hit served because the provider
    raised (``error`` is then the provider's exception; the lookup before it was
    reported as a miss). ``refresh`` is ``True`` on the store and error events of a
    background refresh.
    """

    kind: EventKind
    call_type: str
    key: str
    namespace: str
    backend: str
    duration_s: float
    age_s: float | None = None
    similarity: float | None = None
    ttl_s: float | None = None
    error: BaseException | None = None
    model: str | None = None
    tokens_saved: int | None = None
    latency_saved_s: float | None = None
    cost_saved: float | None = None
    prompt_tokens_saved: int | None = None
    completion_tokens_saved: int | None = None
    stale: StaleKind | None = None
    refresh: bool = False


class _Polled:
    """The observers of a hook asked for on each use (a pluggy without a live list)."""

    __slots__ = ("_hook",)

    def __init__(self, hook: Any) -> None:
        self._hook = hook

    def __len__(self) -> int:
        return len(self._hook.get_hookimpls())


def observers_of(hook: Any) -> Sized:
    """The implementations of ``hook``, kept up to date as plugins come and go: true
    while anyone observes. It is pluggy's own list of them, which pluggy changes in
    place (no copy per call, unlike ``get_hookimpls()``: the hot paths test it on every
    lookup), or, where pluggy keeps no such list, a view that asks on each use."""
    impls = getattr(hook, "_hookimpls", None)
    return impls if type(impls) is list else _Polled(hook)


async def emit(pm: pluggy.PluginManager, event: CacheEvent) -> int:
    """Deliver ``event`` to every ``cachekit_on_<kind>`` observer.

    Sync and async observers are both accepted. An observer that raises is logged
    and skipped. Returns how many observers failed (the caller counts them).
    """
    hook = getattr(pm.hook, "cachekit_on_" + event.kind)
    impls = hook.get_hookimpls()
    if not impls:
        return 0
    failures = 0
    for impl in reversed(impls):  # pluggy order: last registered runs first
        try:
            # like pluggy, pass only the arguments the implementation declares
            result = impl.function(event=event) if impl.argnames else impl.function()
            if inspect.isawaitable(result):
                runner = INLINE.get()
                if runner is None:
                    await result
                else:
                    runner(result)
        except Exception:
            failures += 1
            logger.warning(
                "cachekit observer %s.%s raised; ignored",
                impl.plugin_name,
                hook.name,
                exc_info=True,
            )
    return failures
