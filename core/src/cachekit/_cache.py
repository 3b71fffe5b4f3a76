"""``Cache``: the facade. Policy lives here once; backends only move bytes.

The async methods are the implementation; the sync twins are thin layers over
them (see :mod:`cachekit._sync`). The key-value API raises mapped
:class:`~cachekit.BackendError` subclasses so callers can tell a miss from an
outage; the LLM-call API (:mod:`cachekit._llm`) is fail-open.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import pluggy

from cachekit._backend import AsyncBackend
from cachekit._breaker import CircuitBreaker
from cachekit._controls import validate_ttl
from cachekit._envelope import Entry, decode_entry, encode_entry
from cachekit._events import CacheEvent, EventKind, emit
from cachekit._keys import DEFAULT_NAMESPACE, KEY_PREFIX, namespace_prefix, validate_namespace
from cachekit._llm import DEFAULT_CALL_TYPES, BatchCallsMixin, LLMCallsMixin
from cachekit._singleflight import AsyncSingleFlight, SyncSingleFlight
from cachekit._wrapper import wrap
from cachekit._plugins import get_plugin_manager, resolve_backend
from cachekit._stats import CacheStats, StatsRecorder
from cachekit._sync import run_inline, run_on_loop_thread
from cachekit._urls import options_from_url
from cachekit.exceptions import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
    ConfigurationError,
    EntryError,
)

__all__ = ["DEFAULT_TIMEOUT", "Cache"]

logger = logging.getLogger("cachekit")

T = TypeVar("T")

#: Default bound of one backend operation, in seconds (fail-open budget).
DEFAULT_TIMEOUT = 1.0

_perf = time.perf_counter

#: ``Cache`` keyword arguments (LiteLLM's names) that are meant for the backend.
_BACKEND_KEYWORDS = (
    "similarity_threshold",
    "host",
    "port",
    "password",
    "default_in_memory_ttl",
    "default_in_redis_ttl",
    "s3_bucket_name",
    "s3_region_name",
    "s3_api_version",
    "s3_path",
    "s3_use_ssl",
    "s3_verify",
    "s3_endpoint_url",
    "s3_aws_access_key_id",
    "s3_aws_secret_access_key",
    "s3_aws_session_token",
    "s3_config",
    "disk_cache_dir",
    "qdrant_api_base",
    "qdrant_api_key",
    "qdrant_collection_name",
    "qdrant_quantization_config",
    "embedder",
)


class Cache(LLMCallsMixin, BatchCallsMixin):
    """A cache in front of one storage backend.

    ``type`` names a registered backend (``cachekit backends`` lists them). Every
    other keyword follows LiteLLM's caching names; options meant for the backend
    (``host``, ``s3_bucket_name``, ``disk_cache_dir``, ``max_size``…) are passed to
    its factory. ``ttl`` is the default lifetime in seconds, ``namespace`` isolates
    entries (``aclear`` removes only this namespace), ``timeout`` bounds each
    backend operation, ``plugins`` selects a plugin manager, ``breaker`` tunes the
    circuit breaker (``threshold``, ``cooldown``, ``max_cooldown`` seconds) and
    ``clock`` (a ``() -> float`` of wall-clock seconds) is injectable for tests; it
    is also given to backend factories that accept a ``clock`` option.
    """

    def __init__(
        self,
        type: str = "local",
        *,
        ttl: float | None = None,
        namespace: str | None = None,
        supported_call_types: Iterable[str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        plugins: pluggy.PluginManager | None = None,
        clock: Callable[[], float] | None = None,
        breaker: Mapping[str, Any] | None = None,
        similarity_threshold: float | None = None,
        host: str | None = None,
        port: int | str | None = None,
        password: str | None = None,
        default_in_memory_ttl: float | None = None,
        default_in_redis_ttl: float | None = None,
        s3_bucket_name: str | None = None,
        s3_region_name: str | None = None,
        s3_api_version: str | None = None,
        s3_path: str | None = None,
        s3_use_ssl: bool | None = None,
        s3_verify: bool | str | None = None,
        s3_endpoint_url: str | None = None,
        s3_aws_access_key_id: str | None = None,
        s3_aws_secret_access_key: str | None = None,
        s3_aws_session_token: str | None = None,
        s3_config: Any = None,
        disk_cache_dir: str | None = None,
        qdrant_api_base: str | None = None,
        qdrant_api_key: str | None = None,
        qdrant_collection_name: str | None = None,
        qdrant_quantization_config: str | None = None,
        embedder: Any = None,
        **backend_options: Any,
    ) -> None:
        if not isinstance(type, str) or not type:
            raise ConfigurationError(f"type must be a backend name, got {type!r}")
        self.ttl = validate_ttl(ttl, "Cache(ttl=)")
        self.namespace = DEFAULT_NAMESPACE if namespace is None else validate_namespace(namespace)
        self.supported_call_types = (
            list(DEFAULT_CALL_TYPES) if supported_call_types is None else list(supported_call_types)
        )
        if any(not isinstance(c, str) for c in self.supported_call_types):
            raise ConfigurationError("supported_call_types must be a list of strings")
        self.timeout = validate_ttl(timeout, "Cache(timeout=)")
        self.plugins = get_plugin_manager() if plugins is None else plugins
        self._clock = time.time if clock is None else clock
        given = locals()
        options = {k: given[k] for k in _BACKEND_KEYWORDS if given[k] is not None}
        options.update(backend_options)
        self.type = type
        #: What this cache was built from, so ``update_cache`` can rebuild it.
        self._options: dict[str, Any] = {
            "type": type,
            "ttl": ttl,
            "namespace": namespace,
            "timeout": timeout,
            "supported_call_types": supported_call_types,
            "plugins": plugins,
            "clock": clock,
            "breaker": breaker,
            **options,
        }
        try:
            self._breaker = CircuitBreaker(**(breaker or {}))
        except TypeError as exc:
            raise ConfigurationError(f"Cache(breaker=) has an unknown setting: {exc}") from None
        self._backend = self._make_backend(type, dict(options), clock)
        self._stats = StatsRecorder()
        self._flights = AsyncSingleFlight()
        self._sync_flights = SyncSingleFlight()
        # Hook callers are fixed once the specs are added; their implementations are
        # read on every use, so plugins registered later are seen at once.
        self._observers = {
            kind: getattr(self.plugins.hook, f"cachekit_on_{kind}")
            for kind in ("hit", "miss", "store", "error")
        }
        self._init_llm_calls()

    def _make_backend(
        self, type_name: str, options: dict[str, Any], clock: Callable[[], float] | None
    ) -> AsyncBackend:
        info = resolve_backend(self.plugins, type_name)
        if clock is not None and "clock" not in options and _accepts(info.factory, "clock"):
            options["clock"] = clock
        try:
            backend = info.factory(**options)
        except TypeError as exc:
            raise ConfigurationError(
                f"backend {type_name!r} rejected its options ({', '.join(sorted(options)) or 'none'}): "
                f"{exc}"
            ) from None
        if not isinstance(backend, AsyncBackend):
            raise ConfigurationError(
                f"backend {type_name!r} factory returned {backend!r}, not an AsyncBackend"
            )
        backend.name = type_name
        return backend

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Cache:
        """Build a cache from a URL (see :func:`cachekit._urls.options_from_url`)."""
        options = options_from_url(url)
        options.update(overrides)
        return cls(**options)

    def cached(
        self, call_type: str, *, response_type: type[Any] | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a provider function (sync, async, generator or async generator)
        called with OpenAI-style keyword arguments so its results go through this cache.
        ``response_type`` (or the function's pydantic return annotation) rebuilds hits."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            return wrap(lambda: self, call_type, fn, response_type)

        return decorate

    @property
    def backend(self) -> AsyncBackend:
        """The storage backend instance."""
        return self._backend

    def __repr__(self) -> str:
        return f"Cache(type={self.type!r}, namespace={self.namespace!r})"

    # -- the one chokepoint for backend I/O ------------------------------------
    async def _io(self, op: str, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run one backend operation: circuit breaker, timeout, error mapping.

        In-process (``inline``) backends skip the breaker and the timeout. Every
        failure leaves as a :class:`CacheKitError` (client exceptions become
        :class:`BackendError`)."""
        if self._backend.inline:
            try:
                return await call(*args)
            except CacheKitError:
                raise
            except Exception as exc:
                raise BackendError(f"{self.type} {op} failed: {type(exc).__name__}: {exc}") from exc
        breaker = self._breaker
        if not breaker.allow():
            raise BackendUnavailableError(
                f"{self.type} backend is failing; circuit open, skipping {op} without I/O"
            )
        try:
            if self.timeout is None:
                result = await call(*args)
            else:
                with anyio.fail_after(self.timeout):
                    result = await call(*args)
        except CacheKitError:
            breaker.failure()
            raise
        except TimeoutError:
            breaker.failure()
            raise BackendTimeoutError(f"{self.type} {op} took longer than {self.timeout} s") from None
        except Exception as exc:
            breaker.failure()
            raise BackendError(f"{self.type} {op} failed: {type(exc).__name__}: {exc}") from exc
        breaker.success()
        return result

    def _observed(self, kind: EventKind) -> bool:
        return bool(self._observers[kind].get_hookimpls())

    async def _emit(
        self, kind: EventKind, call_type: str, key: str, start: float, **extra: Any
    ) -> None:
        event = CacheEvent(
            kind, call_type, key, self._namespace_of(key), self.type, _perf() - start, **extra
        )
        self._stats.errors += await emit(self.plugins, event)

    async def _notify(
        self, kind: EventKind, call_type: str, key: str, start: float, **extra: Any
    ) -> None:
        """Count an outcome and, when anyone listens, deliver its event."""
        stats = self._stats
        if kind == "hit":
            stats.hits += 1
        elif kind == "miss":
            stats.misses += 1
        elif kind == "store":
            stats.stores += 1
        else:
            stats.errors += 1
        if self._observed(kind):
            await self._emit(kind, call_type, key, start, **extra)

    def _namespace_of(self, key: str) -> str:
        if key.startswith(KEY_PREFIX):
            return key[len(KEY_PREFIX) :].split(":", 1)[0]
        return self.namespace

    def _kv_key(self, key: str, namespace: str | None = None) -> str:
        if type(key) is not str or not key:
            raise ConfigurationError(f"cache keys are non-empty strings, got {key!r}")
        if key.startswith(KEY_PREFIX):
            return key
        return f"{KEY_PREFIX}{namespace or self.namespace}:{key}"

    def _entry_ttl(self, ttl: float | None) -> float | None:
        if ttl is not None:
            return ttl
        if self.ttl is not None:
            return self.ttl
        return self._backend.default_ttl

    async def _read(self, key: str, call_type: str, start: float) -> Entry | None:
        """Fetch and decode one entry; corrupt or expired entries are misses."""
        backend = self._backend
        if backend.inline:
            raw = await backend.get(key)
        else:
            raw = await self._io("get", backend.get, key)
        if raw is None:
            return None
        return await self._decode(raw, key, call_type, start)

    async def _decode(self, raw: bytes, key: str, call_type: str, start: float) -> Entry | None:
        try:
            entry = decode_entry(raw)
        except EntryError as exc:
            await self._notify("error", call_type, key, start, error=exc)
            return None
        expires_at = entry.expires_at
        if expires_at is not None and self._clock() >= expires_at:
            return None
        return entry

    # -- key-value API ---------------------------------------------------------
    async def aget(self, key: str, *, response_type: type[T] | None = None) -> Any:
        """The value stored under ``key``, or ``None``. ``response_type`` rebuilds a
        pydantic model (``Model.model_validate``). Backend failures raise
        :class:`BackendError`; a corrupt entry is a miss plus an error event."""
        start = _perf()
        skey = self._kv_key(key)
        backend = self._backend
        if backend.inline:  # the hot path of the local backend: no extra coroutine layers
            raw = await backend.get(skey)
            entry = None if raw is None else await self._decode(raw, skey, "kv", start)
        else:
            entry = await self._read(skey, "kv", start)
        stats = self._stats
        if entry is None:
            stats.misses += 1
            if self._observed("miss"):
                await self._emit("miss", "kv", skey, start)
            stats.latency("get", _perf() - start)
            return None
        stats.hits += 1
        if self._observed("hit"):
            await self._emit("hit", "kv", skey, start, age_s=self._clock() - entry.created_at)
        stats.latency("get", _perf() - start)
        if response_type is None:
            return entry.value
        return _rebuild(entry.value, response_type)

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` (anything JSON can hold, or a pydantic model) under ``key``."""
        start = _perf()
        lifetime = self._entry_ttl(validate_ttl(ttl))
        skey = self._kv_key(key)
        if lifetime == 0:
            await self._io("delete", self._backend.delete, skey)
            return
        raw = encode_entry(value, call_type="kv", created_at=self._clock(), ttl=lifetime)
        await self._io("set", self._backend.set, skey, raw, lifetime)
        await self._notify("store", "kv", skey, start, ttl_s=lifetime)
        self._stats.latency("set", _perf() - start)

    async def aget_many(
        self, keys: Sequence[str], *, response_type: type[T] | None = None
    ) -> list[Any]:
        """Values for ``keys`` in order (``None`` for each miss), in one batch."""
        start = _perf()
        skeys = [self._kv_key(k) for k in keys]
        if not skeys:
            return []
        raws = await self._io("get_many", self._backend.get_many, skeys)
        if len(raws) != len(skeys):
            raise BackendError(
                f"{self.type} get_many returned {len(raws)} values for {len(skeys)} keys"
            )
        out: list[Any] = []
        for skey, raw in zip(skeys, raws, strict=True):
            entry = None if raw is None else await self._decode(raw, skey, "kv", start)
            if entry is None:
                await self._notify("miss", "kv", skey, start)
                out.append(None)
            else:
                await self._notify("hit", "kv", skey, start, age_s=self._clock() - entry.created_at)
                out.append(_rebuild(entry.value, response_type))
        self._stats.latency("get_many", _perf() - start)
        return out

    async def aset_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store every item of ``mapping`` with the same lifetime, in one batch."""
        start = _perf()
        lifetime = self._entry_ttl(validate_ttl(ttl))
        now = self._clock()
        encoded = {
            self._kv_key(k): encode_entry(v, call_type="kv", created_at=now, ttl=lifetime)
            for k, v in mapping.items()
        }
        if not encoded:
            return
        if lifetime == 0:
            for skey in encoded:
                await self._io("delete", self._backend.delete, skey)
            return
        await self._io("set_many", self._backend.set_many, encoded, lifetime)
        for skey in encoded:
            await self._notify("store", "kv", skey, start, ttl_s=lifetime)
        self._stats.latency("set_many", _perf() - start)

    async def adelete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""
        return await self._io("delete", self._backend.delete, self._kv_key(key))

    async def aclear(self, namespace: str | None = None) -> int:
        """Remove every entry of this cache's namespace (or ``namespace``); return the count."""
        ns = self.namespace if namespace is None else validate_namespace(namespace)
        return await self._io("clear", self._backend.clear, namespace_prefix(ns))

    async def aclose(self) -> None:
        """Release the backend's resources. Idempotent."""
        await self._io("close", self._backend.aclose)

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def stats(self) -> CacheStats:
        """A snapshot of counters and latency percentiles."""
        return self._stats.snapshot()

    # -- sync face -------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._backend.inline:
            return run_inline(coro)
        return run_on_loop_thread(coro)

    def get(self, key: str, *, response_type: type[T] | None = None) -> Any:
        """Sync twin of :meth:`aget`."""
        return self._run(self.aget(key, response_type=response_type))

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Sync twin of :meth:`aset`."""
        return self._run(self.aset(key, value, ttl))

    def get_many(self, keys: Sequence[str], *, response_type: type[T] | None = None) -> list[Any]:
        """Sync twin of :meth:`aget_many`."""
        return self._run(self.aget_many(keys, response_type=response_type))

    def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Sync twin of :meth:`aset_many`."""
        return self._run(self.aset_many(mapping, ttl))

    def delete(self, key: str) -> bool:
        """Sync twin of :meth:`adelete`."""
        return self._run(self.adelete(key))

    def clear(self, namespace: str | None = None) -> int:
        """Sync twin of :meth:`aclear`."""
        return self._run(self.aclear(namespace))

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        return self._run(self.aclose())

    def __enter__(self) -> Cache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _rebuild(value: Any, response_type: type[T] | None) -> Any:
    if response_type is None or value is None:
        return value
    validate = getattr(response_type, "model_validate", None)
    if validate is None:
        raise ConfigurationError(f"response_type must be a pydantic model class, got {response_type!r}")
    return validate(value)


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params
