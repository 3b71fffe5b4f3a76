"""``Cache``: the facade users hold — a small object over a few collaborators.

* the **engine** (:mod:`cachekit._engine`): the one read path and the one write
  path over the backend, with its timeout, circuit breaker, stats and events;
* the **semantic index** (:mod:`cachekit._semantic`), for semantic backend types;
* the **LLM-call layer** (:mod:`cachekit._llm`): keys of requests, fail-open
  lookups and stores, LiteLLM's method names and the ``cached`` wrapper.

The key-value API raises :class:`~cachekit.BackendError` subclasses on an outage so
callers can tell a miss from a failure; the LLM-call API is fail-open. Async
methods are the implementation; the sync twins are thin layers over them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import pluggy

from cachekit._build import build_parts
from cachekit._engine._kv_hits import NOT_NOW, kv_hit_now
from cachekit._engine._runner import run_on_loop_thread
from cachekit._engine._stats import CacheStats
from cachekit._engine._steps import kv_materializer, write_items
from cachekit._kernel._manager import get_plugin_manager
from cachekit._kernel._urls import options_from_url
from cachekit._llm._calls import OVERRIDABLE, Mode
from cachekit._llm._wrapper import KeyParams, check_call_type, wrap
from cachekit._policy._controls import NO_CONTROLS, validate_ttl
from cachekit._policy._keys import namespace_prefix, storage_key, validate_namespace
from cachekit._storage._backend import AsyncBackend

if TYPE_CHECKING:
    from cachekit._rekey import Progress, RekeyReport

__all__ = ["DEFAULT_TIMEOUT", "Cache"]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

#: Default bound of one backend operation, in seconds (fail-open budget).
DEFAULT_TIMEOUT = 1.0

_NOTHING: Any = object()
_perf = time.perf_counter


class Cache:
    """A cache in front of one storage backend.

    ``type`` names a registered backend (``cachekit backends`` lists them). Keywords
    follow LiteLLM's caching names. The core's own: ``ttl`` (default lifetime,
    seconds), ``namespace`` (isolates entries; ``aclear`` removes only this
    namespace), ``supported_call_types``, ``mode`` (``"default_on"``, or
    ``"default_off"``: cache only calls that pass ``cache={"use-cache": True}``),
    ``timeout`` (bound of each backend operation), ``plugins`` (a plugin manager),
    ``stale_while_revalidate``/``stale_if_error`` (default stale windows of LLM calls,
    seconds), ``breaker`` (``threshold``, ``cooldown``, ``max_cooldown``), ``clock`` (a
    ``() -> float`` of wall-clock seconds, injectable for tests; also given to
    backend factories that take one), the L1 tier (``l1_ttl``, ``l1_max_size``,
    ``l1_max_size_bytes``), ``pricing`` and ``shared_stats`` (also keep the counters in
    a shared backend, for ``cachekit stats``: README, "What the cache saves") and, for
    semantic types, ``similarity_threshold``, ``embedder`` and
    ``redis_semantic_cache_embedding_model`` / ``qdrant_semantic_cache_embedding_model``.
    ``single_flight``: ``"process"`` (default) or ``"distributed"`` (one provider call
    across processes on a backend that can lock; ``single_flight_lease``, ``_wait``).

    Encryption at rest (``pip install "cachekit-core[encryption]"``): ``encryption_key``
    (32 bytes, or base64 text) or ``encryption_keys=[current, *older]`` encrypt every
    stored entry with AES-256-GCM bound to its storage key; writes use the first key,
    reads any listed one. Either may be a zero-argument callable returning the key(s)
    (a secret manager lookup), called once, when the cache is built. An entry that does
    not decrypt (a wrong key, tampered, moved, or plaintext) is a miss plus an error
    event; ``allow_plaintext_reads=True`` serves plaintext entries during a migration.
    :meth:`arekey` rotates a namespace in place. Keys never appear in a repr, a log,
    an event or an error message.

    Every other keyword is a backend option (``host``, ``port``, ``password``,
    ``s3_bucket_name``, ``disk_cache_dir``, ``qdrant_api_base``, ``max_size``…),
    routed to the backend's factory by its signature: an option the backend does not
    take is a ``ValueError`` that lists the ones it does.
    """

    def __init__(
        self,
        type: str = "local",
        *,
        ttl: float | None = None,
        namespace: str | None = None,
        supported_call_types: Iterable[str] | None = None,
        mode: Mode = "default_on",
        timeout: float | None = DEFAULT_TIMEOUT,
        plugins: pluggy.PluginManager | None = None,
        clock: Callable[[], float] | None = None,
        breaker: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._options: dict[str, Any] = {
            "type": type,
            "ttl": ttl,
            "namespace": namespace,
            "supported_call_types": supported_call_types,
            "mode": mode,
            "timeout": timeout,
            "plugins": plugins,
            "clock": clock,
            "breaker": breaker,
            **options,
        }
        self.plugins = get_plugin_manager() if plugins is None else plugins
        parts = build_parts(self, self._options, self.plugins)
        self.type: str = type
        self.ttl = parts.ttl
        self.namespace: str = parts.namespace
        self.timeout = parts.timeout
        self.mode: Mode = mode
        self.supported_call_types: list[str] = parts.supported_call_types
        self._engine = parts.engine
        self._semantic = parts.semantic
        self._calls = parts.calls
        self._key_prefix = namespace_prefix(self.namespace)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in OVERRIDABLE and "_calls" in self.__dict__:  # cache.get_cache = fn
            self._calls.overrides_changed()

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        if name in OVERRIDABLE:
            self._calls.overrides_changed()

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Cache:
        """Build a cache from a URL: ``redis://…``, ``s3://bucket/prefix``,
        ``disk:///dir``, ``local://`` and any scheme a plugin registers. Query
        parameters become options; ``overrides`` win over the URL."""
        pm = overrides.get("plugins") or get_plugin_manager()
        options = options_from_url(url, pm)
        options.update(overrides)
        return cls(**options)

    @property
    def backend(self) -> AsyncBackend:
        """The storage backend instance."""
        return self._engine.backend

    def __repr__(self) -> str:
        return f"Cache(type={self.type!r}, namespace={self.namespace!r})"

    def stats(self) -> CacheStats:
        """A snapshot of counters and latency percentiles."""
        return self._engine.stats.snapshot()

    def supports(self, call_type: str) -> bool:
        """Whether ``call_type`` (or its family) is cached by this cache."""
        return call_type in self._calls.supported

    def cached(
        self,
        call_type: str,
        *,
        response_type: type[Any] | None = None,
        chunk_type: type[Any] | None = None,
        key_params: KeyParams = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a provider function (an SDK method, ``litellm.acompletion``, any
        sync or async function called with OpenAI-style keyword arguments) so its
        results go through this cache. ``response_type``/``chunk_type`` name the
        pydantic types hits are rebuilt into (by default: the function's return
        annotation, and what misses return). ``key_params`` go into every key without
        reaching the function (e.g. a client's ``base_url``). An unknown ``call_type``
        is a ``ValueError`` listing the known ones."""
        check_call_type(call_type)

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            wrapped = wrap(lambda: self, call_type, fn, response_type, chunk_type, key_params)
            return cast("Callable[P, R]", wrapped)

        return decorate

    # -- key-value API ---------------------------------------------------------
    def _key(self, key: str) -> str:
        if type(key) is str and key.isascii() and 0 < len(key) < 256 and key[:9] != "cachekit:":
            return self._key_prefix + key  # the common case, checked cheaply
        return storage_key(key, self.namespace)

    async def aget(self, key: str, *, response_type: type[T] | None = None) -> Any:
        """The value stored under ``key``, or ``None``. ``response_type`` rebuilds a
        pydantic model. Backend failures raise :class:`BackendError`; a corrupt entry
        is a miss plus an error event."""
        if type(key) is str and key.isascii() and 0 < len(key) < 256 and key[:9] != "cachekit:":
            skey = self._key_prefix + key  # the common case, checked cheaply
        else:
            skey = storage_key(key, self.namespace)
        if response_type is None:
            value = kv_hit_now(self._engine, skey)  # a fresh in-process hit, at once
            if value is not NOT_NOW:
                return value
        materialize = kv_materializer(response_type)
        entry = await self._engine.read(skey, "kv", NO_CONTROLS, None, materialize)
        return None if entry is None else entry.result

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` (anything JSON can hold, or a pydantic model) under ``key``.
        ``ttl=0`` stores nothing and removes an older value under that key."""
        lifetime = self._lifetime(ttl)
        skey = self._key(key)
        if lifetime == 0:
            await self._engine.delete(skey)
            return
        await self._engine.write(skey, value, "kv", lifetime)

    def _lifetime(self, ttl: float | None) -> float | None:
        ttl = validate_ttl(ttl)
        if ttl is not None:
            return ttl
        return self.ttl if self.ttl is not None else self._engine.backend.default_ttl

    async def aget_many(
        self, keys: Sequence[str], *, response_type: type[T] | None = None
    ) -> list[Any]:
        """Values for ``keys`` in order (``None`` for each miss), in one batch."""
        skeys = [self._key(k) for k in keys]
        if not skeys:
            return []
        entries = await self._engine.read_many(
            skeys, "kv", materialize=kv_materializer(response_type)
        )
        return [None if e is None else e.result for e in entries]

    async def aset_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store every item of ``mapping`` with the same lifetime, in one batch."""
        lifetime = self._lifetime(ttl)
        items = {self._key(k): v for k, v in mapping.items()}
        if not items:
            return
        if lifetime == 0:
            await self._engine.delete_many(list(items))
            return
        await self._engine.write_many(write_items(items), "kv", lifetime)

    async def adelete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""
        return await self._engine.delete(self._key(key))

    async def aclear(self, namespace: str | None = None) -> int:
        """Remove every entry of this cache's namespace (or ``namespace``); return the count."""
        ns = self.namespace if namespace is None else validate_namespace(namespace)
        return await self._engine.clear(namespace_prefix(ns))

    async def arekey(
        self,
        old_keys: Any = None,
        *,
        progress: Progress | None = None,
        batch_size: int = 100,
    ) -> RekeyReport:
        """Re-encrypt every entry of this cache's namespace under its current key (the
        first of ``encryption_keys``), in place, each with its remaining lifetime.

        Entries sealed with any key this cache lists, or with ``old_keys`` (a key, a
        list, or a callable returning them), are opened and sealed again; entries
        already under the current key are skipped, so an interrupted run resumes;
        plaintext entries are encrypted when the cache has ``allow_plaintext_reads``.
        Readers built with ``encryption_keys=[new, old]`` read every entry throughout.
        ``progress(report)`` (sync or async) runs after each batch of ``batch_size``
        keys. Returns a report of counts (no key material). Needs a backend that can
        list its keys (``AsyncBackend.scan``: local, redis, s3, disk)."""
        from cachekit._rekey import rekey_cache

        return await rekey_cache(self, old_keys, progress=progress, batch_size=batch_size)

    async def aclose(self) -> None:
        """Cancel refreshes, release the backend. Idempotent; never skipped by an open circuit."""
        await self._calls.revalidator.aclose()
        await self._engine.close()

    async def await_refreshes(self) -> None:
        """Wait until the background refreshes (``stale-while-revalidate``) running on
        this event loop have finished; :meth:`wait_refreshes` is the sync twin."""
        await self._calls.revalidator.wait()

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- LiteLLM's names (fail-open) -------------------------------------------
    def get_cache_key(self, /, **kwargs: Any) -> str:
        """The storage key of a request (``cache={"namespace": ...}`` and an explicit
        ``cache_key=`` are honoured). ``ValueError`` naming the parameter that cannot
        be keyed."""
        return self._calls.key_of(kwargs)

    async def async_get_cache(self, /, **kwargs: Any) -> Any:
        """The cached result of a request, or ``None`` (a miss, or a backend problem)."""
        calls = self._calls
        with calls.running("async_get_cache"):
            override = calls.override("get")
            if override is not None:
                return await calls.call_override(*override, **kwargs)
            return await calls.get_cache(kwargs)

    async def async_add_cache(self, result: Any = _NOTHING, /, **kwargs: Any) -> None:
        """Store ``result`` as the answer to the request described by ``kwargs``
        (``result=`` may also be given by keyword, as LiteLLM's docs do)."""
        if result is _NOTHING:
            if "result" not in kwargs:
                raise TypeError("async_add_cache() needs the result to store")
            result = kwargs.pop("result")
        calls = self._calls
        with calls.running("async_add_cache"):
            override = calls.override("add")
            if override is not None:
                await calls.call_override(*override, result, **kwargs)
                return
            await calls.add_cache(result, kwargs)

    def get_cache(self, /, **kwargs: Any) -> Any:
        """Sync twin of :meth:`async_get_cache`."""
        calls = self._calls
        with calls.running("get_cache"):
            return calls.engine.run(Cache.async_get_cache(self, **kwargs))

    def add_cache(self, result: Any = _NOTHING, /, **kwargs: Any) -> None:
        """Sync twin of :meth:`async_add_cache`."""
        calls = self._calls
        with calls.running("add_cache"):
            calls.engine.run(Cache.async_add_cache(self, result, **kwargs))

    # -- sync face -------------------------------------------------------------
    def get(self, key: str, *, response_type: type[T] | None = None) -> Any:
        """Sync twin of :meth:`aget`."""
        if response_type is None:
            value = kv_hit_now(self._engine, self._key(key))  # no loop, no coroutine
            if value is not NOT_NOW:
                return value
        return self._engine.run(self.aget(key, response_type=response_type))

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Sync twin of :meth:`aset`."""
        return self._engine.run(self.aset(key, value, ttl))

    def get_many(self, keys: Sequence[str], *, response_type: type[T] | None = None) -> list[Any]:
        """Sync twin of :meth:`aget_many`."""
        return self._engine.run(self.aget_many(keys, response_type=response_type))

    def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Sync twin of :meth:`aset_many`."""
        return self._engine.run(self.aset_many(mapping, ttl))

    def delete(self, key: str) -> bool:
        """Sync twin of :meth:`adelete`."""
        return self._engine.run(self.adelete(key))

    def clear(self, namespace: str | None = None) -> int:
        """Sync twin of :meth:`aclear`."""
        return self._engine.run(self.aclear(namespace))

    def rekey(
        self,
        old_keys: Any = None,
        *,
        progress: Progress | None = None,
        batch_size: int = 100,
    ) -> RekeyReport:
        """Sync twin of :meth:`arekey`."""
        return self._engine.run(self.arekey(old_keys, progress=progress, batch_size=batch_size))

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        return self._engine.run(self.aclose())

    def wait_refreshes(self) -> None:
        """Sync twin of :meth:`await_refreshes` (the sync face refreshes on its loop thread)."""
        run_on_loop_thread(self._calls.revalidator.wait())

    def __enter__(self) -> Cache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
