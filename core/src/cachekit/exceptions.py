"""The one exception hierarchy of cachekit.

Every error that cachekit raises on purpose is a :class:`CacheKitError`. Plugins
translate their client library's exceptions at the boundary (redis, botocore,
qdrant…), so callers never need to catch a third-party type::

    CacheKitError
    ├── ConfigurationError (also ValueError)  bad arguments, options, controls or URLs;
    │   │                                      raised before any I/O
    │   └── UnknownBackendError               ``Cache(type=...)`` names no installed backend
    ├── PluginError                           a plugin failed to load or misbehaved
    ├── BackendError                          a storage operation failed
    │   ├── BackendUnavailableError           the store cannot be reached (refused, down,
    │   │                                      circuit open)
    │   └── BackendTimeoutError (also TimeoutError)  an operation exceeded ``Cache(timeout=)``
    └── EntryError                            stored bytes are not a valid cachekit entry
                                              (corrupted, truncated, foreign or a newer format)

``ConfigurationError`` subclasses :class:`ValueError` so that code written against
the contract ("bad values raise ``ValueError``") keeps working. Backend and entry
errors never escape the LLM-call wrapper: they turn a call into an uncached call
and are reported as error events instead (see ``Cache`` and ``hookspecs``).
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "CacheKitError",
    "ConfigurationError",
    "EntryError",
    "PluginError",
    "UnknownBackendError",
]


class CacheKitError(Exception):
    """Root of every error cachekit raises on purpose."""


class ConfigurationError(CacheKitError, ValueError):
    """An argument, option, per-call control or URL is invalid (raised before any I/O)."""


class UnknownBackendError(ConfigurationError):
    """``Cache(type=...)`` names a backend type that no installed plugin provides."""

    def __init__(self, message: str, *, requested: str, installed: list[str]) -> None:
        super().__init__(message)
        self.requested = requested
        self.installed = installed


class PluginError(CacheKitError):
    """A plugin failed to load or returned something unusable."""


class BackendError(CacheKitError):
    """A storage backend operation failed."""


class BackendUnavailableError(BackendError):
    """The storage backend cannot be reached (connection refused, down, circuit open)."""


class BackendTimeoutError(BackendError, TimeoutError):
    """A storage backend operation took longer than the cache's per-operation timeout."""


class EntryError(CacheKitError):
    """Stored bytes are not a valid cachekit entry (corrupted, truncated or foreign)."""
