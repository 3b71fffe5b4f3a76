"""Building a ``Cache``'s parts from its keyword arguments, validated before any I/O.

The core's own options are read here; every other keyword is a backend option,
routed to the backend's factory by its signature (:mod:`cachekit._kernel._options`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from cachekit._engine._breaker import CircuitBreaker
from cachekit._engine._engine import Engine
from cachekit._engine._savings import make_pricing
from cachekit._engine._shared import SharedStats
from cachekit._kernel._options import route_options
from cachekit._kernel._registry import embedder_registry, resolve_backend
from cachekit._llm._calls import MODES, LLMCalls
from cachekit._policy._controls import validate_ttl, validate_window
from cachekit._policy._crypto import AesGcmProtector, parse_keys
from cachekit._policy._keys import DEFAULT_CALL_TYPES, DEFAULT_NAMESPACE, validate_namespace
from cachekit._semantic._backend import SemanticBackend
from cachekit._semantic._embedders import Embedder, model_embedder
from cachekit._semantic._index import DEFAULT_SIMILARITY_THRESHOLD, SemanticIndex
from cachekit._storage._backend import AsyncBackend
from cachekit._storage._local import LocalBackend
from cachekit._storage._tiered import TieredBackend
from cachekit.exceptions import ConfigurationError

__all__ = ["Parts", "build_parts"]

_SEMANTIC_OPTIONS = (
    "similarity_threshold",
    "embedder",
    "redis_semantic_cache_embedding_model",
    "qdrant_semantic_cache_embedding_model",
)
_L1_OPTIONS = ("l1_ttl", "l1_max_size", "l1_max_size_bytes")


@dataclass(frozen=True)
class Parts:
    ttl: float | None
    namespace: str
    timeout: float | None
    supported_call_types: list[str]
    engine: Engine
    semantic: SemanticIndex | None
    calls: LLMCalls


def build_parts(owner: Any, options: dict[str, Any], pm: pluggy.PluginManager) -> Parts:
    """Validate ``Cache(...)``'s keyword arguments and build its collaborators."""
    opts = dict(options)
    type_name = opts.pop("type")
    if not isinstance(type_name, str) or not type_name:
        raise ConfigurationError(f"type must be a backend name, got {type_name!r}")
    ttl = validate_ttl(opts.pop("ttl"), "Cache(ttl=)")
    namespace = opts.pop("namespace")
    namespace = DEFAULT_NAMESPACE if namespace is None else validate_namespace(namespace)
    supported = opts.pop("supported_call_types")
    supported = list(DEFAULT_CALL_TYPES) if supported is None else list(supported)
    if any(not isinstance(c, str) for c in supported):
        raise ConfigurationError("supported_call_types must be a list of strings")
    mode = opts.pop("mode")
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    timeout = validate_ttl(opts.pop("timeout"), "Cache(timeout=)")
    if timeout == 0:
        raise ConfigurationError("Cache(timeout=) must be > 0 seconds (None: no timeout)")
    given_clock: Callable[[], float] | None = opts.pop("clock")
    pricing = make_pricing(opts.pop("pricing", None))
    shared_stats = opts.pop("shared_stats", False)
    if not isinstance(shared_stats, bool):
        raise ConfigurationError(f"shared_stats must be True or False, got {shared_stats!r}")
    stale = (
        validate_window(opts.pop("stale_while_revalidate", None), "Cache(stale_while_revalidate=)"),
        validate_window(opts.pop("stale_if_error", None), "Cache(stale_if_error=)"),
    )
    breaker_options = opts.pop("breaker") or {}
    try:
        breaker = CircuitBreaker(**breaker_options)
    except TypeError as exc:
        raise ConfigurationError(f"Cache(breaker=) has an unknown setting: {exc}") from None
    opts.pop("plugins", None)
    protector = _protector(
        opts.pop("encryption_key", None),
        opts.pop("encryption_keys", None),
        opts.pop("allow_plaintext_reads", None),
    )
    semantic_options = {k: v for k in _SEMANTIC_OPTIONS if (v := opts.pop(k, None)) is not None}
    l1_options = {k: v for k in _L1_OPTIONS if (v := opts.pop(k, None)) is not None}
    backend_options = {k: v for k, v in opts.items() if v is not None}

    backend = make_backend(pm, type_name, backend_options, given_clock)
    if semantic_options and not isinstance(backend, SemanticBackend):
        raise ConfigurationError(
            f"{', '.join(sorted(semantic_options))} only apply to semantic backend types; "
            f"{type_name!r} is an exact-match backend"
        )
    l1 = _l1(type_name, backend, **l1_options)
    if l1 is not None:
        tiered = TieredBackend(l1[0], backend, l1[1])
        tiered.name = type_name
        backend = tiered
    engine = Engine(
        backend,
        name=type_name,
        namespace=namespace,
        clock=time.time if given_clock is None else given_clock,
        timeout=timeout,
        breaker=breaker,
        plugins=pm,
        l1=None if l1 is None else l1[0],
        pricing=pricing,
        protector=protector,
    )
    if shared_stats:
        engine.shared = _shared_stats(type_name, engine)
    semantic = None
    if isinstance(backend, SemanticBackend):
        semantic = _semantic_index(pm, backend, engine, semantic_options)
    calls = LLMCalls(owner, engine, semantic, ttl=ttl, supported=supported, mode=mode, stale=stale)
    return Parts(ttl, namespace, timeout, supported, engine, semantic, calls)


def _shared_stats(type_name: str, engine: Engine) -> SharedStats:
    """``Cache(shared_stats=True)``: needs a store other processes see, that lists keys."""
    backend = engine.backend
    if not backend.shared or type(backend).scan is AsyncBackend.scan:
        raise ConfigurationError(
            f"shared_stats=True needs a backend shared between processes that can list its "
            f"keys (redis, s3, disk); {type_name!r} keeps no shared counters"
        )
    return SharedStats(engine, engine.clock)


def _protector(
    encryption_key: object, encryption_keys: object, allow_plaintext_reads: object
) -> AesGcmProtector | None:
    """The encryption step (``None``: entries are stored as plaintext). Key sources
    given as callables are called now, once: a cache holds the keys it was built with."""
    if allow_plaintext_reads is not None and not isinstance(allow_plaintext_reads, bool):
        raise ConfigurationError(
            f"allow_plaintext_reads must be True or False, got {type(allow_plaintext_reads).__name__}"
        )
    keys = parse_keys(encryption_key, encryption_keys)
    if keys is None:
        if allow_plaintext_reads:
            raise ConfigurationError(
                "allow_plaintext_reads only applies to an encrypted cache (give encryption_key=)"
            )
        return None
    return AesGcmProtector(keys, allow_plaintext_reads=bool(allow_plaintext_reads))


def make_backend(
    pm: pluggy.PluginManager,
    type_name: str,
    options: dict[str, Any],
    clock: Callable[[], float] | None,
) -> AsyncBackend:
    """Build a backend through its registered factory (options routed by signature)."""
    factory = resolve_backend(pm, type_name).factory
    routed = route_options(type_name, factory, options, clock=clock)
    try:
        backend = factory(**routed)
    except TypeError as exc:
        raise ConfigurationError(
            f"backend {type_name!r} rejected its options ({', '.join(sorted(routed)) or 'none'}): "
            f"{exc}"
        ) from None
    if not isinstance(backend, AsyncBackend):
        raise ConfigurationError(
            f"backend {type_name!r} factory returned {backend!r}, not an AsyncBackend"
        )
    backend.name = type_name
    return backend


def _l1(
    type_name: str,
    backend: AsyncBackend,
    l1_ttl: float | None = None,
    l1_max_size: int | None = None,
    l1_max_size_bytes: int | None = None,
) -> tuple[LocalBackend, float] | None:
    """An in-process L1 in front of a remote backend (``None``: no L1)."""
    ttl = validate_ttl(l1_ttl, "l1_ttl")
    if ttl is None or ttl == 0:
        if l1_max_size is not None or l1_max_size_bytes is not None:
            raise ConfigurationError("l1_max_size/l1_max_size_bytes need l1_ttl > 0")
        return None
    if backend.inline:
        raise ConfigurationError(f"{type_name!r} is in-process already; an L1 adds nothing")
    if isinstance(backend, SemanticBackend):
        raise ConfigurationError("an L1 tier is not supported in front of semantic backends")
    local = LocalBackend(
        max_size=1000 if l1_max_size is None else l1_max_size, max_size_bytes=l1_max_size_bytes
    )
    return local, ttl


def _semantic_index(
    pm: pluggy.PluginManager,
    backend: SemanticBackend,
    engine: Engine,
    options: dict[str, Any],
) -> SemanticIndex:
    threshold = options.get("similarity_threshold", DEFAULT_SIMILARITY_THRESHOLD)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not (0.0 <= threshold <= 1.0)
    ):
        raise ConfigurationError(
            f"similarity_threshold is a cosine similarity in [0, 1], got {threshold!r}"
        )
    model = options.get("redis_semantic_cache_embedding_model") or options.get(
        "qdrant_semantic_cache_embedding_model"
    )
    embedder_option = options.get("embedder")
    if model is not None and embedder_option is None:
        embedder, embedder_id = model_embedder(model), f"model:{model}"
    else:
        choice = embedder_option or "hash"
        embedder, embedder_id = _resolve_embedder(pm, choice), _embedder_id(choice)
    return SemanticIndex(
        backend, engine, threshold=float(threshold), embedder=embedder, embedder_id=embedder_id
    )


def _resolve_embedder(pm: pluggy.PluginManager, embedder: Any) -> Embedder:
    if isinstance(embedder, str):
        info = embedder_registry(pm).get(embedder)
        if info is None:
            known = ", ".join(sorted(embedder_registry(pm)))
            raise ConfigurationError(f"unknown embedder {embedder!r}; registered: {known}")
        made: Embedder = info.factory()
        return made
    if callable(embedder):
        return embedder  # type: ignore[no-any-return]
    raise ConfigurationError(
        f"embedder must be a registered name or an async (texts) -> vectors callable, got {embedder!r}"
    )


def _embedder_id(embedder: Any) -> str:
    """A stable name for an embedder: its registered name, or the callable's dotted path."""
    if isinstance(embedder, str):
        return embedder
    target = getattr(embedder, "__func__", embedder)
    cls = target if hasattr(target, "__qualname__") else type(target)
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')}"
