"""``litellm.cache.cache``: LiteLLM's backend interface over a cachekit cache.

LiteLLM's ``Cache`` keeps its storage backend in ``.cache`` and looks at it: a
``RedisCache`` there makes the caching handler put its own in-memory tier in front
(``DualCache``), an ``S3Cache`` switches embeddings to whole-response writes. Neither
should happen to a cachekit cache (cachekit has its own L1 tier, and every cachekit
backend takes per-item embedding entries), so ``.cache`` is this adapter: a
``BaseCache`` that is neither, and whose methods, for LiteLLM code that reaches the
backend directly (the proxy's cache endpoints, for one), read and write the same
cachekit cache through its key-value API. Like LiteLLM's backends it never raises on
an outage: a failed read is ``None``, a failed write is skipped, both reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cachekit import CacheKitError

from cachekit_litellm._failures import Failures

if TYPE_CHECKING:
    import cachekit
    from litellm.caching.base_cache import BaseCache
else:
    try:
        from litellm.caching.base_cache import BaseCache
    except ImportError:  # an unsupported LiteLLM: Cache() says so (see _compat)
        BaseCache = object

__all__ = ["CachekitBackend"]

_FIX = "the call goes on without the cache (see the cachekit logger for the cause)"


def _ttl(kwargs: dict[str, Any]) -> float | None:
    ttl = kwargs.get("ttl")
    return None if ttl is None else float(ttl)


class CachekitBackend(BaseCache):
    """LiteLLM's ``BaseCache`` over a cachekit cache's key-value API (see the module
    docstring). Keys live in the cache's namespace; values are JSON data."""

    def __init__(self, cache: cachekit.Cache, failures: Failures) -> None:
        super().__init__()
        self._cache = cache
        self._failures = failures

    def __repr__(self) -> str:
        return f"CachekitBackend({self._cache!r})"

    def _failed(self, operation: str, exc: CacheKitError) -> None:
        self._failures.report(f"litellm.cache.cache.{operation}", _FIX, exc)

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        try:
            self._cache.set(key, value, ttl=_ttl(kwargs))
        except CacheKitError as exc:
            self._failed("set_cache", exc)

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        try:
            await self._cache.aset(key, value, ttl=_ttl(kwargs))
        except CacheKitError as exc:
            self._failed("async_set_cache", exc)

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], **kwargs: Any
    ) -> None:
        try:
            await self._cache.aset_many(dict(cache_list), ttl=_ttl(kwargs))
        except CacheKitError as exc:
            self._failed("async_set_cache_pipeline", exc)

    async def batch_cache_write(self, key: str, value: Any, **kwargs: Any) -> None:
        await self.async_set_cache(key, value, **kwargs)

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        try:
            return self._cache.get(key)
        except CacheKitError as exc:
            self._failed("get_cache", exc)
            return None

    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        try:
            return await self._cache.aget(key)
        except CacheKitError as exc:
            self._failed("async_get_cache", exc)
            return None

    async def async_batch_get_cache(self, keys: list[str], **kwargs: Any) -> list[Any]:
        try:
            return await self._cache.aget_many(keys)
        except CacheKitError as exc:
            self._failed("async_batch_get_cache", exc)
            return [None] * len(keys)

    def delete_cache(self, key: str) -> None:
        try:
            self._cache.delete(key)
        except CacheKitError as exc:
            self._failed("delete_cache", exc)

    async def async_delete_cache(self, key: str) -> None:
        try:
            await self._cache.adelete(key)
        except CacheKitError as exc:
            self._failed("async_delete_cache", exc)

    async def delete_cache_keys(self, keys: Iterable[str]) -> None:
        for key in keys:
            await self.async_delete_cache(key)

    def flush_cache(self) -> None:
        """Remove every entry of the cache's namespace."""
        try:
            self._cache.clear()
        except CacheKitError as exc:
            self._failed("flush_cache", exc)

    async def disconnect(self) -> None:
        await self._cache.aclose()

    async def test_connection(self) -> dict[str, Any]:
        """LiteLLM's health check: one read of a key that is never written."""
        try:
            await self._cache.aget("cachekit-litellm:connection-test")
        except CacheKitError as exc:
            return {
                "status": "failed",
                "message": "cachekit backend unreachable",
                "error": str(exc),
            }
        return {"status": "success", "message": f"{self._cache!r} is reachable"}
