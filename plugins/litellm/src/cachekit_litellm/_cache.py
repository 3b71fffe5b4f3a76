"""``cachekit_litellm.Cache``: a cachekit cache that LiteLLM uses as ``litellm.cache``.

LiteLLM's call wrapper (``litellm.utils.client``) and its ``LLMCachingHandler`` do the
caching around every ``completion``/``acompletion``/``embedding``/``transcription``…
call: they decide whether the call type is cached, derive a key, read, convert a hit
back into LiteLLM's response types, fire the success callbacks with
``cache_hit=True`` and store fresh results. What they ask of ``litellm.cache``:

* ``supported_call_types`` (a list of LiteLLM call-type names), ``supports_async()``;
* ``get_cache_key(**kwargs)``: called before every read (the key then comes back as
  ``cache_key=``), per item for embeddings, and for the ``cache_key`` hidden param;
* ``async_get_cache(cache_key=..., dynamic_cache_object=..., **kwargs)`` and, on the
  sync path, ``get_cache(**kwargs)``; for an async embedding, one
  ``async_get_cache(cache_key=...)`` per item with nothing else;
* ``async_add_cache(result_json, dynamic_cache_object=..., **kwargs)`` (in a
  background task), ``add_cache(result, **kwargs)`` (sync) and
  ``async_add_cache_pipeline(embedding_response, **kwargs)``;
* ``.cache`` (``isinstance`` checks for ``RedisCache`` and ``S3Cache``) and
  ``get_preset_cache_key_from_kwargs``.

This class answers all of it with cachekit: it *is* a :class:`cachekit.Cache`
(subclassed, so the key-value API, ``stats()``, ``cached()`` and ``cache_info`` work on
the same object), and each LiteLLM-named method removes LiteLLM's bookkeeping from the
arguments (:mod:`cachekit_litellm._requests`) and hands the request to cachekit's own
LLM-call methods. Keys, per-call controls, TTL precedence, namespaces, semantic
matching, assigned overrides and fail-open behaviour are therefore cachekit's.
LiteLLM's own ``Cache`` is not subclassed: its constructor builds LiteLLM's backends
and its methods would route around cachekit.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import cachekit
from cachekit import ConfigurationError, SemanticBackend

from cachekit_litellm._compat import check_litellm
from cachekit_litellm._failures import Failures
from cachekit_litellm._requests import (
    EMBEDDING_FAMILY,
    call_family,
    call_type_of,
    content_given,
    litellm_request,
    message_count,
)
from cachekit_litellm._results import (
    embedding_entries,
    embedding_items,
    embedding_response,
    is_embedding_entry,
    stored_value,
)
from cachekit_litellm._store import CachekitBackend

__all__ = ["UNKEYABLE", "Cache", "register_callbacks"]

#: What ``get_cache_key`` gives LiteLLM for a request cachekit cannot key (a value JSON
#: cannot hold): LiteLLM asks for a key before every read and would fail the call on an
#: exception; this key is never read or written, and the write path reports the cause.
UNKEYABLE = "cachekit:unkeyable"

_NOTHING: Any = object()

#: LiteLLM keyword arguments without a cachekit equivalent, and what to do instead.
_UNSUPPORTED: dict[str, str] = {
    "redis_semantic_cache_index_name": "a cachekit cache keeps one semantic index per "
    "namespace; separate caches with namespace=",
    "valkey_semantic_cache_embedding_model": "cachekit has no 'valkey-semantic' type; "
    "use type='redis-semantic' (Valkey speaks the Redis protocol)",
    "valkey_semantic_cache_index_name": "cachekit has no 'valkey-semantic' type",
    "semantic_cache_embedding_max_input_tokens": "cachekit embeds the prompt text as "
    "given; pass embedder= to truncate or choose the model",
    "semantic_cache_embedding_timeout": "timeout= bounds every cache operation, embedding included",
    "qdrant_semantic_cache_vector_size": "the vector size is the embedder's",
    "gcs_bucket_name": "cachekit has no 'gcs' backend",
    "gcs_path_service_account": "cachekit has no 'gcs' backend",
    "gcs_path": "cachekit has no 'gcs' backend",
    "azure_account_url": "cachekit has no 'azure-blob' backend",
    "azure_blob_container": "cachekit has no 'azure-blob' backend",
    "gcp_service_account": "GCP IAM authentication to Redis is not supported; pass "
    "password= (or url=)",
    "gcp_ssl_ca_certs": "GCP IAM authentication to Redis is not supported; pass ssl_ca_certs=",
    "_backend": "name a cachekit backend type (or register one through a plugin)",
}

#: LiteLLM's values of unsupported keywords that mean "nothing special" (accepted).
_HARMLESS = {"semantic_cache_scope": "key"}
_UNSUPPORTED["semantic_cache_scope"] = (
    "a semantic hit never crosses requests whose other parameters differ; keep tenants "
    "apart with namespace= or cache={'namespace': ...}"
)

#: LiteLLM's cache types that no cachekit backend provides.
_LITELLM_ONLY_TYPES = {
    "gcs": "cachekit has no 'gcs' backend",
    "azure-blob": "cachekit has no 'azure-blob' backend",
    "valkey-semantic": "use type='redis-semantic' (Valkey speaks the Redis protocol)",
}

#: LiteLLM's default lifetimes and the backend types they apply to (LiteLLM ignores
#: them for the other types, and so does this class).
_DEFAULT_TTLS = {
    "default_in_memory_ttl": frozenset({"local", "local-semantic"}),
    "default_in_redis_ttl": frozenset({"redis", "redis-semantic"}),
}

#: Bound of the per-item embedding requests remembered between ``get_cache_key`` and
#: the ``async_get_cache(cache_key=...)`` LiteLLM makes for each item.
_REMEMBERED_ITEMS = 4096

#: What an embedding item's request carries besides its key.
_ITEM_CONTEXT = ("call_type", "cache", "caching")

_WRITE_FIX = "the result was not stored (the call itself is unaffected)"
_READ_FIX = "the call went on as a miss"


def _plain(value: object) -> object:
    """LiteLLM's str enums (``LiteLLMCacheType.REDIS``, ``CacheMode.default_off``) as str."""
    return value.value if isinstance(value, enum.Enum) else value


def _from_litellm(kwargs: Mapping[str, Any]) -> bool:
    """Whether LiteLLM's call wrapper is the caller (its bookkeeping is present)."""
    return "litellm_logging_obj" in kwargs or "litellm_call_id" in kwargs


def register_callbacks() -> None:
    """Put ``"cache"`` in LiteLLM's input/success/async-success callback lists, as
    LiteLLM's own ``Cache()`` and ``enable_cache()`` do."""
    import litellm

    if "cache" not in litellm.input_callback:
        litellm.input_callback.append("cache")
    if "cache" not in litellm.success_callback:
        litellm.logging_callback_manager.add_litellm_success_callback("cache")
    if "cache" not in litellm._async_success_callback:
        litellm.logging_callback_manager.add_litellm_async_success_callback("cache")


class Cache(cachekit.Cache):
    """A cachekit cache that LiteLLM reads and writes as ``litellm.cache``::

        import litellm
        from cachekit_litellm import Cache

        litellm.cache = Cache(type="redis", host="localhost", port=6379, ttl=3600)

    Takes LiteLLM's ``Cache`` keywords: ``type`` (any cachekit backend: ``local``,
    ``redis``, ``redis-semantic``, ``s3``, ``disk``, ``qdrant-semantic``…), ``mode``,
    ``host``, ``port``, ``password``, ``namespace``, ``ttl``,
    ``default_in_memory_ttl``/``default_in_redis_ttl`` (the default lifetime of the
    ``local``/Redis types; ignored for the others, as LiteLLM does),
    ``similarity_threshold``, ``supported_call_types`` (default: LiteLLM's list),
    ``max_messages`` (default: no limit) and, as keywords, every backend option:
    ``s3_*``, ``disk_cache_dir``, ``qdrant_*``,
    ``redis_semantic_cache_embedding_model``… plus cachekit's own (``timeout``,
    ``embedder``, ``l1_ttl``, ``plugins``, ``breaker``, ``clock``). A LiteLLM keyword
    with no cachekit equivalent is a ``ValueError`` saying what to use instead; an
    untested LiteLLM release is an :class:`~cachekit_litellm.UnsupportedLiteLLMError`.
    """

    def __init__(
        self,
        type: str | None = "local",
        mode: str | None = None,
        host: str | None = None,
        port: int | str | None = None,
        password: str | None = None,
        namespace: str | None = None,
        ttl: float | None = None,
        default_in_memory_ttl: float | None = None,
        default_in_redis_ttl: float | None = None,
        similarity_threshold: float | None = None,
        supported_call_types: Iterable[str] | None = None,
        *,
        max_messages: int | None = None,
        **options: Any,
    ) -> None:
        check_litellm()
        type_name = _plain(type if type is not None else "local")
        if not isinstance(type_name, str):
            raise ConfigurationError(f"type must be a backend name, got {type!r}")
        if type_name in _LITELLM_ONLY_TYPES:
            raise ConfigurationError(
                f"LiteLLM's {type_name!r} cache type is not available through cachekit: "
                f"{_LITELLM_ONLY_TYPES[type_name]}"
            )
        for name, why in _UNSUPPORTED.items():
            value = options.pop(name, None)
            if value is not None and _HARMLESS.get(name) != _plain(value):
                raise ConfigurationError(
                    f"{name} is a LiteLLM Cache option cachekit-litellm does not support: {why}"
                )
        if max_messages is not None and (
            isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 0
        ):
            raise ConfigurationError(
                f"max_messages must be a non-negative int or None, got {max_messages!r}"
            )
        for name, value in (
            ("default_in_memory_ttl", default_in_memory_ttl),
            ("default_in_redis_ttl", default_in_redis_ttl),
        ):
            if value is not None and type_name in _DEFAULT_TTLS[name]:
                options[name] = value
        if supported_call_types is None:
            from litellm.types.caching import DEFAULT_CACHING_SUPPORTED_CALL_TYPES

            supported_call_types = DEFAULT_CACHING_SUPPORTED_CALL_TYPES
        super().__init__(
            type_name,
            ttl=ttl,
            namespace=namespace,
            supported_call_types=[str(_plain(c)) for c in supported_call_types],
            mode=str(_plain(mode)) if mode is not None else "default_on",  # type: ignore[arg-type]
            host=host,
            port=port,
            password=password,
            similarity_threshold=similarity_threshold,
            **options,
        )
        #: LiteLLM's ``max_messages``: requests with more messages are not cached.
        self.max_messages = max_messages
        self.failures = Failures()
        #: LiteLLM's backend slot (see :mod:`cachekit_litellm._store`).
        self.cache = CachekitBackend(self, self.failures)
        self._ll_semantic = isinstance(self.backend, SemanticBackend)
        self._ll_items: dict[str, dict[str, Any]] = {}
        register_callbacks()

    def __repr__(self) -> str:
        return f"cachekit_litellm.Cache(type={self.type!r}, namespace={self.namespace!r})"

    # -- LiteLLM's parity helpers ---------------------------------------------------------
    def supports_async(self) -> bool:
        """LiteLLM asks before its async read: every cachekit backend is async."""
        return True

    def should_use_cache(self, **kwargs: Any) -> bool:
        """LiteLLM's rule: ``mode`` (``default_off`` needs ``cache={"use-cache": True}``)
        and ``max_messages``."""
        if self._too_long(kwargs):
            return False
        if self.mode == "default_on":
            return True
        controls = kwargs.get("cache")
        return isinstance(controls, Mapping) and controls.get("use-cache") is True

    def get_preset_cache_key_from_kwargs(self, **kwargs: Any) -> str | None:
        """The key LiteLLM stored in ``kwargs["litellm_params"]["preset_cache_key"]``."""
        params = kwargs.get("litellm_params")
        key = params.get("preset_cache_key") if isinstance(params, Mapping) else None
        return key if isinstance(key, str) else None

    async def disconnect(self) -> None:
        """LiteLLM's name for :meth:`aclose`."""
        await self.aclose()

    async def delete_cache_keys(self, keys: Iterable[str]) -> None:
        """Remove the entries under ``keys`` (as ``get_cache_key`` returned them)."""
        await self.cache.delete_cache_keys(keys)

    # -- keys -------------------------------------------------------------------------------
    def get_cache_key(self, /, **kwargs: Any) -> str:
        """cachekit's key of the request (LiteLLM's bookkeeping left out). A request that
        cannot be keyed is a ``ValueError`` naming the parameter, except when LiteLLM
        asks: then the call runs uncached (:data:`UNKEYABLE`)."""
        request = litellm_request(kwargs)
        try:
            key = cachekit.Cache.get_cache_key(self, **request)
        except ConfigurationError:
            if not _from_litellm(kwargs):
                raise
            return UNKEYABLE
        if call_family(request.get("call_type")) == EMBEDDING_FAMILY:
            self._remember(key, request)
        return key

    def _remember(self, key: str, request: Mapping[str, Any]) -> None:
        """Keep an embedding item's call type and controls for its lookup, which LiteLLM
        makes with ``cache_key=`` alone (bounded; the oldest are forgotten first)."""
        context = {k: request[k] for k in _ITEM_CONTEXT if k in request}
        items = self._ll_items
        if items.get(key) != context:
            items.pop(key, None)
            items[key] = context
            if len(items) > _REMEMBERED_ITEMS:
                del items[next(iter(items))]

    def _derived(self, key: str, request: Mapping[str, Any]) -> bool:
        """Whether ``key`` is this cache's own key of ``request`` (not a custom one)."""
        rest = {k: v for k, v in request.items() if k != "cache_key"}
        try:
            return bool(cachekit.Cache.get_cache_key(self, **rest) == key)
        except ConfigurationError:
            return False

    def _too_long(self, kwargs: Mapping[str, Any]) -> bool:
        return self.max_messages is not None and message_count(kwargs) > self.max_messages

    def _request(self, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The cachekit request for LiteLLM's ``kwargs`` (``None``: not cached).

        An embedding item's lookup (``cache_key=`` alone) gets back the call type and
        controls remembered when its key was derived. A semantic cache gets the request
        without its key when the key is the cache's own, so that cachekit can embed the
        prompt (an explicit key means an exact lookup)."""
        if self._too_long(kwargs):
            return None
        request = litellm_request(kwargs)
        key = request.get("cache_key")
        if key is None:
            return request
        if not content_given(request):
            remembered = self._ll_items.get(key)
            if remembered is not None:
                request = {**remembered, **request}
        if key == UNKEYABLE:
            del request["cache_key"]  # cachekit derives again, fails and reports it
            return request if content_given(request) else None
        if self._ll_semantic and content_given(request) and self._derived(key, request):
            del request["cache_key"]
        return request

    # -- reads --------------------------------------------------------------------------------
    async def async_get_cache(self, /, **kwargs: Any) -> Any:
        """The stored answer to a request as JSON data (LiteLLM rebuilds its response
        types from it), or ``None``: a miss, an outage, or a call not cached. A per-call
        control that is not valid is a ``ValueError``, raised before any I/O."""
        request = self._request(kwargs)
        if request is None:
            return None
        return await cachekit.Cache.async_get_cache(self, **request)

    def get_cache(self, /, **kwargs: Any) -> Any:
        """Sync twin of :meth:`async_get_cache`. LiteLLM's sync embedding path reads the
        per-item entries its async path writes: a whole response when every item hits."""
        if "cache_key" not in kwargs and self._is_embedding(kwargs):
            return self._get_embedding(kwargs)
        request = self._request(kwargs)
        if request is None:
            return None
        return cachekit.Cache.get_cache(self, **request)

    def _is_embedding(self, kwargs: Mapping[str, Any], result: Any = None) -> bool:
        if call_family(call_type_of(kwargs)) == EMBEDDING_FAMILY:
            return True
        return type(result).__name__ == "EmbeddingResponse"

    def _item_keys(self, kwargs: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Each embedding item's key (through ``self.get_cache_key``, so an assigned one
        is honoured) and the request that reads or stores its entry: the key with the
        call's type and controls (an exact entry, never a semantic one), or, for an item
        that cannot be keyed, the item's request (cachekit then reports why)."""
        pairs: list[tuple[str, dict[str, Any]]] = []
        for item in embedding_items(kwargs.get("input")):
            item_kwargs = {**kwargs, "input": item}
            key = self.get_cache_key(**item_kwargs)
            request = litellm_request(item_kwargs)
            if key != UNKEYABLE:
                request = {k: request[k] for k in _ITEM_CONTEXT if k in request}
                request["cache_key"] = key
            pairs.append((key, request))
        return pairs

    def _get_embedding(self, kwargs: Mapping[str, Any]) -> Any:
        if self._too_long(kwargs):
            return None
        entries = []
        for key, request in self._item_keys(kwargs):
            entry = cachekit.Cache.get_cache(self, **request)
            if key == UNKEYABLE or not is_embedding_entry(entry):
                return None  # a miss: LiteLLM's sync path asks the provider for every item
            entries.append(entry)
        if not entries:
            return None
        try:
            return embedding_response(entries, kwargs.get("model"))
        except Exception as exc:
            self.failures.report("rebuilding a cached embedding response", _READ_FIX, exc)
            return None

    # -- writes ----------------------------------------------------------------------------
    async def async_add_cache(self, result: Any = _NOTHING, /, **kwargs: Any) -> None:
        """Store ``result`` (a LiteLLM response, its JSON as LiteLLM's async path passes
        it, or any JSON data) as the answer to the request in ``kwargs``."""
        if result is _NOTHING:
            result = kwargs.pop("result", None)
        if self._is_embedding(kwargs, result) and "cache_key" not in kwargs:
            await self.async_add_cache_pipeline(result, **kwargs)
            return
        try:
            request = self._request(kwargs)
            if request is not None:
                await cachekit.Cache.async_add_cache(self, stored_value(result), **request)
        except Exception as exc:
            self.failures.report("async_add_cache", _WRITE_FIX, exc)

    def add_cache(self, result: Any = _NOTHING, /, **kwargs: Any) -> None:
        """Sync twin of :meth:`async_add_cache` (an embedding response is stored item by
        item, as LiteLLM's async path stores it)."""
        if result is _NOTHING:
            result = kwargs.pop("result", None)
        try:
            if self._is_embedding(kwargs, result) and "cache_key" not in kwargs:
                for _key, request, entry in self._item_entries(result, kwargs):
                    cachekit.Cache.add_cache(self, entry, **request)
                return
            whole = self._request(kwargs)
            if whole is not None:
                cachekit.Cache.add_cache(self, stored_value(result), **whole)
        except Exception as exc:
            self.failures.report("add_cache", _WRITE_FIX, exc)

    def _item_entries(
        self, result: Any, kwargs: Mapping[str, Any]
    ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """``(key, request, entry)`` per embedding item; none when the response does not
        answer each input with one item (LiteLLM skips those too)."""
        pairs = self._item_keys(kwargs)
        entries = embedding_entries(result, len(embedding_items(kwargs.get("input"))))
        if entries is None or len(entries) != len(pairs):
            return []
        return [(key, request, entry) for (key, request), entry in zip(pairs, entries, strict=True)]

    async def async_add_cache_pipeline(self, result: Any, /, **kwargs: Any) -> None:
        """Store an embedding response one entry per input item (LiteLLM's per-item
        format), so that a later request sharing some items is a partial hit."""
        try:
            items = self._item_entries(result, kwargs)
            if items:
                await asyncio.gather(
                    *(
                        cachekit.Cache.async_add_cache(self, entry, **request)
                        for _key, request, entry in items
                    )
                )
        except Exception as exc:
            self.failures.report("async_add_cache_pipeline", _WRITE_FIX, exc)
