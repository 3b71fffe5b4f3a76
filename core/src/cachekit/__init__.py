"""cachekit: an async-first cache for LLM API calls.

Public surface (everything else lives in private ``_modules``)::

    from cachekit import Cache
    cache = Cache(type="local", ttl=3600)
    await cache.aset("k", {"answer": 42}); await cache.aget("k")

Backends are plugins found through the ``cachekit`` entry-point group; see
:mod:`cachekit.hookspecs` for every hook and :class:`AsyncBackend` for the
storage interface. Backend contract tests live in :mod:`cachekit.testing`.
"""

from __future__ import annotations

from cachekit._cache import DEFAULT_TIMEOUT, Cache
from cachekit._engine._events import CacheEvent
from cachekit._engine._stats import CacheStats
from cachekit._global import (
    CacheScope,
    cached,
    current_cache,
    disable_cache,
    enable_cache,
    update_cache,
)
from cachekit._kernel._lazy import lazy_exports
from cachekit._kernel._manager import (
    PluginFailure,
    build_plugin_manager,
    get_plugin_manager,
    plugin_failures,
)
from cachekit._kernel._registry import BackendInfo, backend_registry
from cachekit._kernel._urls import query_options
from cachekit._llm._info import CacheInfo, cache_info
from cachekit._logging import LoggingObserver, disable_logging, enable_logging
from cachekit._observing import LabelLimit, MetricsObserver, event_is_stale, event_outcome
from cachekit._policy._controls import CacheControls
from cachekit._policy._envelope import Entry
from cachekit._policy._keys import EXCLUDED_PARAMS, KEY_PREFIX
from cachekit._semantic._backend import SemanticBackend, SemanticMatch
from cachekit._semantic._embedders import HashEmbedder, openai_embedder
from cachekit._storage._backend import AsyncBackend, Usage
from cachekit._storage._local import LocalBackend
from cachekit._storage._tiered import TieredBackend
from cachekit.exceptions import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
    ConfigurationError,
    EntryError,
    PluginError,
    UnknownBackendError,
)
from cachekit.hookspecs import hookimpl, hookspec

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXCLUDED_PARAMS",
    "KEY_PREFIX",
    "AsyncBackend",
    "BackendError",
    "BackendInfo",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "Cache",
    "CacheControls",
    "CacheEvent",
    "CacheInfo",
    "CacheKitError",
    "CacheScope",
    "CacheStats",
    "ConfigurationError",
    "Entry",
    "EntryError",
    "HashEmbedder",
    "LabelLimit",
    "LocalBackend",
    "LoggingObserver",
    "MetricsObserver",
    "PluginError",
    "PluginFailure",
    "SemanticBackend",
    "SemanticMatch",
    "TieredBackend",
    "UnknownBackendError",
    "Usage",
    "backend_registry",
    "build_plugin_manager",
    "cache_info",
    "cached",
    "current_cache",
    "disable_cache",
    "disable_logging",
    "enable_cache",
    "enable_logging",
    "event_is_stale",
    "event_outcome",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "lazy_exports",
    "openai_embedder",
    "plugin_failures",
    "query_options",
    "update_cache",
]

__version__ = "0.1.0"
