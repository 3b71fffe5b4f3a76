"""``enable_cache``/``disable_cache``/``update_cache`` as LiteLLM documents them, with
a cachekit cache, each also a context manager that restores what it changed.

They change what LiteLLM's own functions change: ``litellm.cache`` and the
``"cache"`` entries of ``litellm.input_callback``, ``litellm.success_callback`` and
``litellm._async_success_callback``. Those are process-wide globals (LiteLLM reads
them on every call), so a scope is process-wide too, unlike cachekit's own
``enable_cache``, whose scopes are per task. Leaving a ``with`` block puts back the
cache and the callback entries that were there before it; the cache a block created
is not closed (``cache.close()``/``await cache.aclose()`` releases its connections).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

from cachekit_litellm._cache import Cache, register_callbacks

__all__ = ["LiteLLMCacheScope", "disable_cache", "enable_cache", "update_cache"]

_CALLBACK_LISTS = ("input_callback", "success_callback", "_async_success_callback")


def _callback_lists() -> list[list[Any]]:
    import litellm

    return [getattr(litellm, name) for name in _CALLBACK_LISTS]


class LiteLLMCacheScope:
    """Returned by :func:`enable_cache`, :func:`disable_cache` and :func:`update_cache`:
    the change is already in effect. As a context manager (sync or async), leaving it
    restores ``litellm.cache`` and LiteLLM's ``"cache"`` callback entries as they were
    before the change. ``with enable_cache(...) as cache:`` binds ``litellm.cache``."""

    def __init__(self) -> None:
        import litellm

        self._previous_cache: Any = litellm.cache
        self._previous_callbacks = ["cache" in callbacks for callbacks in _callback_lists()]

    @property
    def cache(self) -> Any:
        """``litellm.cache`` as this scope left it (``None`` after ``disable_cache``)."""
        import litellm

        return litellm.cache

    def restore(self) -> None:
        """Put back ``litellm.cache`` and the ``"cache"`` callback entries."""
        import litellm

        litellm.cache = self._previous_cache
        for callbacks, present in zip(_callback_lists(), self._previous_callbacks, strict=True):
            if present and "cache" not in callbacks:
                callbacks.append("cache")
            while not present and "cache" in callbacks:
                callbacks.remove("cache")

    def __enter__(self) -> Any:
        return self.cache

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    async def __aenter__(self) -> Any:
        return self.cache

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()


def enable_cache(
    type: str = "local",
    host: str | None = None,
    port: int | str | None = None,
    password: str | None = None,
    supported_call_types: Iterable[str] | None = None,
    **kwargs: Any,
) -> LiteLLMCacheScope:
    """``litellm.enable_cache``: register LiteLLM's ``"cache"`` callbacks and, if
    ``litellm.cache`` is ``None``, set it to ``Cache(type, host=..., ...)`` (an existing
    cache is kept, as LiteLLM keeps it; :func:`update_cache` replaces it)."""
    import litellm

    scope = LiteLLMCacheScope()  # before Cache(), which registers the callbacks too
    if litellm.cache is None:
        litellm.cache = Cache(  # type: ignore[assignment]  # LiteLLM annotates its own Cache
            type, host=host, port=port, password=password,
            supported_call_types=supported_call_types, **kwargs,
        )  # fmt: skip
    register_callbacks()
    return scope


def update_cache(
    type: str = "local",
    host: str | None = None,
    port: int | str | None = None,
    password: str | None = None,
    supported_call_types: Iterable[str] | None = None,
    **kwargs: Any,
) -> LiteLLMCacheScope:
    """``litellm.update_cache``: set ``litellm.cache`` to a new ``Cache(type, ...)``
    with these settings (the one it replaces is not closed)."""
    import litellm

    scope = LiteLLMCacheScope()  # before Cache(), which registers the callbacks too
    litellm.cache = Cache(  # type: ignore[assignment]  # LiteLLM annotates its own Cache
        type, host=host, port=port, password=password,
        supported_call_types=supported_call_types, **kwargs,
    )  # fmt: skip
    return scope


def disable_cache() -> LiteLLMCacheScope:
    """``litellm.disable_cache``: set ``litellm.cache`` to ``None`` and remove
    LiteLLM's ``"cache"`` callback entries (each list on its own: LiteLLM's version
    stops at the first list without one)."""
    import litellm

    scope = LiteLLMCacheScope()
    for callbacks in _callback_lists():
        while "cache" in callbacks:
            callbacks.remove("cache")
    litellm.cache = None
    return scope
