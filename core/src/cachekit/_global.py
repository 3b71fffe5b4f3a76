"""The global cache, like ``litellm.cache``: ``enable_cache``/``disable_cache``/
``update_cache`` and the module-level ``cached`` decorator.

Each call takes effect at once and returns a handle that is also a context
manager: leaving the ``with`` block restores the previous cache. The current
cache lives in a context variable, so concurrent tasks that each open their own
``with enable_cache(...)`` never see each other's; a call made outside any async
task (module level, plain sync code) also sets the process-wide default, which
threads started later see.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from cachekit._cache import Cache
from cachekit._llm._wrapper import KeyParams, check_call_type, wrap

__all__ = ["CacheScope", "cached", "current_cache", "disable_cache", "enable_cache", "update_cache"]

R = TypeVar("R")
P = ParamSpec("P")

_UNSET: Any = object()
_scoped: ContextVar[Cache | None] = ContextVar("cachekit_current_cache", default=_UNSET)
_process_default: Cache | None = None


def current_cache() -> Cache | None:
    """The cache the module-level ``cached`` decorator uses right now (or ``None``)."""
    cache = _scoped.get()
    return _process_default if cache is _UNSET else cache


def _in_async_task() -> bool:
    # Neither event-loop library is imported here: if one is running, it is loaded.
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and asyncio.events._get_running_loop() is not None:
        return True
    trio = sys.modules.get("trio")  # anyio's other backend
    return trio is not None and bool(trio.lowlevel.in_trio_task())


class CacheScope:
    """Returned by ``enable_cache``/``disable_cache``/``update_cache``; already in
    effect. As a context manager, its exit restores what was current before."""

    def __init__(self, cache: Cache | None) -> None:
        global _process_default
        self.cache = cache
        self._previous_default = _process_default
        self._sets_default = not _in_async_task()
        self._token: Token[Cache | None] = _scoped.set(cache)
        if self._sets_default:
            _process_default = cache

    def __enter__(self) -> Cache | None:
        return self.cache

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _process_default
        _scoped.reset(self._token)
        if self._sets_default:
            _process_default = self._previous_default

    async def __aenter__(self) -> Cache | None:
        return self.cache

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def enable_cache(type: str = "local", **options: Any) -> CacheScope:
    """Make a new ``Cache(type, **options)`` the current cache (``litellm.enable_cache``)."""
    return CacheScope(Cache(type, **options))


def disable_cache() -> CacheScope:
    """Stop caching through the module-level decorator (until the scope is left)."""
    return CacheScope(None)


def update_cache(**changes: Any) -> CacheScope:
    """Rebuild the current cache with some settings changed (``litellm.update_cache``)."""
    cache = current_cache()
    options = dict(cache._options) if cache is not None else {}
    options.update(changes)
    return CacheScope(Cache(**options))


def cached(
    call_type: str,
    *,
    response_type: type[Any] | None = None,
    chunk_type: type[Any] | None = None,
    key_params: KeyParams = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a provider function; the current global cache is looked up per call
    (no cache enabled: the call passes straight through). Arguments as
    :meth:`Cache.cached`."""
    check_call_type(call_type)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        wrapped = wrap(current_cache, call_type, fn, response_type, chunk_type, key_params)
        return cast("Callable[P, R]", wrapped)

    return decorate
