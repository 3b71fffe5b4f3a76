"""``CacheCore``: construction and the policy every operation goes through.

The async methods are the implementation; the sync twins are thin layers over
them (see :mod:`cachekit._sync`). The key-value API raises mapped
:class:`~cachekit.BackendError` subclasses so callers can tell a miss from an
outage; the LLM-call API (:mod:`cachekit._llm`) is fail-open.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import pluggy

from cachekit._backend import AsyncBackend
from cachekit._breaker import CircuitBreaker
from cachekit._controls import validate_ttl
from cachekit._embedders import Embedder
from cachekit._envelope import Entry, decode_entry
from cachekit._events import CacheEvent, EventKind, emit
from cachekit._keys import (
    DEFAULT_CALL_TYPES,
    DEFAULT_NAMESPACE,
    KEY_PREFIX,
    call_family,
    namespace_prefix,
    validate_namespace,
)
from cachekit._local import LocalBackend
from cachekit._plugins import embedder_registry, get_plugin_manager, resolve_backend
from cachekit._semantic import SemanticBackend
from cachekit._singleflight import AsyncSingleFlight, SyncSingleFlight
from cachekit._stats import CacheStats, StatsRecorder
from cachekit._sync import run_inline, run_on_loop_thread
from cachekit._tiered import TieredBackend
from cachekit.exceptions import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
    ConfigurationError,
    EntryError,
)

__all__ = ["DEFAULT_TIMEOUT", "CacheCore"]

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


def _embedder_id(embedder: Any) -> str:
    """A stable name for an embedder: its registered name, or the callable's dotted path."""
    if isinstance(embedder, str):
        return embedder
    target = getattr(embedder, "__func__", embedder)
    cls = target if hasattr(target, "__qualname__") else type(target)
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')}"


def _running_asyncio() -> bool:
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio.events._get_running_loop() is not None


def _asyncio_timeout(seconds: float) -> Any:
    import asyncio

    return asyncio.timeout(seconds)


#: Cosine similarity a semantic hit needs unless ``similarity_threshold`` says otherwise.
DEFAULT_SIMILARITY_THRESHOLD = 0.9


@dataclass(frozen=True, slots=True)
class SemanticSetup:
    """What a cache over a semantic backend needs besides the backend."""

    backend: SemanticBackend
    threshold: float
    embedder: Embedder
    embedder_id: str


class CacheCore:
    """Construction and the policy every operation goes through (keys, timeouts,
    the circuit breaker, events, stats). Users hold :class:`cachekit.Cache`, whose
    docstring describes the keyword arguments."""

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
        semantic_options: dict[str, Any] = {
            k: options.pop(k) for k in ("similarity_threshold", "embedder") if k in options
        }
        l1 = {
            k: options.pop(k)
            for k in ("l1_ttl", "l1_max_size", "l1_max_size_bytes")
            if k in options
        }
        self._backend = self._make_backend(type, dict(options), clock)
        self._semantic = self._semantic_setup(semantic_options)
        self._l1: LocalBackend | None = None
        if l1:
            self._add_l1(**l1)
        self._stats = StatsRecorder()
        self._flights = AsyncSingleFlight()
        self._sync_flights = SyncSingleFlight()
        # Hook callers are fixed once the specs are added; their implementations are
        # read on every use, so plugins registered later are seen at once.
        self._observers = {
            kind: getattr(self.plugins.hook, f"cachekit_on_{kind}")
            for kind in ("hit", "miss", "store", "error")
        }
        self._hit_hook = self._observers["hit"]
        self._key_hook = self.plugins.hook.cachekit_key_params
        self._miss_hook = self._observers["miss"]
        self._key_prefix = namespace_prefix(self.namespace)
        self._supported = frozenset(self.supported_call_types) | frozenset(
            call_family(c) for c in self.supported_call_types
        )

    def _semantic_setup(self, options: dict[str, Any]) -> SemanticSetup | None:
        backend = self._backend
        if not isinstance(backend, SemanticBackend):
            if options:
                raise ConfigurationError(
                    f"{', '.join(sorted(options))} only apply to semantic backend types; "
                    f"{self.type!r} is an exact-match backend"
                )
            return None
        threshold = options.get("similarity_threshold", DEFAULT_SIMILARITY_THRESHOLD)
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not (0.0 <= threshold <= 1.0)
        ):
            raise ConfigurationError(
                f"similarity_threshold is a cosine similarity in [0, 1], got {threshold!r}"
            )
        embedder = options.get("embedder") or "hash"
        return SemanticSetup(
            backend, float(threshold), self._resolve_embedder(embedder), _embedder_id(embedder)
        )

    def _resolve_embedder(self, embedder: Any) -> Embedder:
        if embedder is None:
            embedder = "hash"
        if isinstance(embedder, str):
            info = embedder_registry(self.plugins).get(embedder)
            if info is None:
                known = ", ".join(sorted(embedder_registry(self.plugins)))
                raise ConfigurationError(f"unknown embedder {embedder!r}; registered: {known}")
            made: Embedder = info.factory()
            return made
        if callable(embedder):
            return embedder  # type: ignore[no-any-return]
        raise ConfigurationError(
            f"embedder must be a registered name or an async (texts) -> vectors callable, got {embedder!r}"
        )

    def _add_l1(
        self,
        l1_ttl: float | None = None,
        l1_max_size: int | None = None,
        l1_max_size_bytes: int | None = None,
    ) -> None:
        """Put an in-process L1 (``TieredBackend``) in front of a remote backend."""
        ttl = validate_ttl(l1_ttl, "l1_ttl")
        if ttl is None or ttl == 0:
            if l1_max_size is not None or l1_max_size_bytes is not None:
                raise ConfigurationError("l1_max_size/l1_max_size_bytes need l1_ttl > 0")
            return
        if self._backend.inline:
            raise ConfigurationError(f"{self.type!r} is in-process already; an L1 adds nothing")
        if self._semantic is not None:
            raise ConfigurationError("an L1 tier is not supported in front of semantic backends")
        self._l1 = LocalBackend(
            max_size=1000 if l1_max_size is None else l1_max_size, max_size_bytes=l1_max_size_bytes
        )
        tiered = TieredBackend(self._l1, self._backend, ttl)
        tiered.name = self.type
        tiered.default_ttl = self._backend.default_ttl
        self._backend = tiered

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
            except Exception as exc:
                raise self._mapped(op, exc) from exc
        breaker = self._breaker
        if not breaker.allow():
            raise BackendUnavailableError(
                f"{self.type} backend is failing; circuit open, skipping {op} without I/O"
            )
        try:
            if self.timeout is None:
                result = await call(*args)
            elif _running_asyncio():
                # asyncio's own timeout costs a third of anyio.fail_after per operation
                async with _asyncio_timeout(self.timeout):
                    result = await call(*args)
            else:
                with anyio.fail_after(self.timeout):
                    result = await call(*args)
        except CacheKitError:
            breaker.failure()
            raise
        except TimeoutError:
            breaker.failure()
            raise BackendTimeoutError(
                f"{self.type} {op} took longer than {self.timeout} s"
            ) from None
        except Exception as exc:
            breaker.failure()
            raise BackendError(f"{self.type} {op} failed: {type(exc).__name__}: {exc}") from exc
        breaker.success()
        return result

    def _mapped(self, op: str, exc: Exception) -> CacheKitError:
        """A backend's exception as one of ours (ours pass through unchanged)."""
        if isinstance(exc, CacheKitError):
            return exc
        return BackendError(f"{self.type} {op} failed: {type(exc).__name__}: {exc}")

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
        l1 = self._l1
        raw = None if l1 is None else await l1.get(key)  # L1 hits skip the breaker and timeout
        if raw is None:
            raw = await self._io("get", self._backend.get, key)
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

    def stats(self) -> CacheStats:
        """A snapshot of counters and latency percentiles."""
        return self._stats.snapshot()

    # -- sync face -------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._backend.inline:
            return run_inline(coro)
        return run_on_loop_thread(coro)


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params
