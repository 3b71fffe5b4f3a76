"""Fail-open, never silent: one WARNING per kind of failure, a counter for all.

A cache that quietly stops caching is a failure its users cannot see. Every absorbed
failure is counted (``cache.stats().errors``) and reported as an error event; the
first failure of each *kind* per cache also logs one WARNING on the ``cachekit``
logger that names the cause and the fix. Later failures of that kind log at DEBUG.
"""

from __future__ import annotations

import logging
import threading

from cachekit.exceptions import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigurationError,
    EntryError,
    PluginError,
)

__all__ = ["FailureLog", "failure_kind"]

logger = logging.getLogger("cachekit")

#: What to do about each kind of failure, said once in the WARNING.
_FIXES = {
    "key": (
        "cannot derive a cache key for this request, so it runs uncached",
        "pass JSON-like values or pydantic models as parameters, or assign "
        "cache.get_cache_key to a function that returns a string",
    ),
    "value": (
        "cannot store this result, so the next identical call will not hit",
        "return JSON-like data or pydantic models from the wrapped function",
    ),
    "timeout": (
        "a backend operation timed out; calls run uncached until it answers",
        "check the backend's health and network, or raise Cache(timeout=...)",
    ),
    "unavailable": (
        "the backend cannot be reached; calls run uncached and caching resumes by itself",
        "start the backend or check its address and credentials",
    ),
    "backend": (
        "a backend operation failed; the call ran uncached",
        "check the backend's logs and the error below",
    ),
    "entry": (
        "a stored entry is not a valid cachekit entry (corrupted, foreign or from a "
        "newer version); it is treated as a miss",
        "clear the namespace, and make sure nothing else writes under cachekit: keys",
    ),
    "plugin": (
        "a plugin hook failed; its result is ignored",
        "fix or unregister the plugin named below",
    ),
    "refresh": (
        "a background refresh (stale-while-revalidate) failed; the stale entry stays and "
        "is served until its window ends, and the next stale hit tries again",
        "check the provider's health and the error below",
    ),
    "other": ("an unexpected error was absorbed; the call ran uncached", "see the error below"),
}


def failure_kind(error: BaseException, stage: str = "") -> str:
    """The kind a failure is counted and warned under."""
    if stage == "refresh":
        return "refresh"
    if isinstance(error, BackendTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, BackendUnavailableError):
        return "unavailable"
    if isinstance(error, BackendError):
        return "backend"
    if isinstance(error, EntryError):
        return "entry"
    if isinstance(error, PluginError):
        return "plugin"
    if isinstance(error, ConfigurationError | ValueError | TypeError):
        return "key" if stage == "key" else "value" if stage == "write" else "other"
    return "other"


class FailureLog:
    """Per-cache memory of which kinds of failure were already announced."""

    __slots__ = ("_label", "_lock", "_seen")

    def __init__(self, label: str) -> None:
        self._label = label
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def report(self, error: BaseException, call_type: str, stage: str = "") -> None:
        kind = failure_kind(error, stage)
        with self._lock:
            first = kind not in self._seen
            self._seen.add(kind)
        cause, fix = _FIXES[kind]
        if first:
            logger.warning(
                "cachekit %s (%s): %s. Fix: %s. Error: %s: %s "
                "(further failures of this kind are counted in stats().errors, not logged)",
                self._label,
                call_type or "kv",
                cause,
                fix,
                type(error).__name__,
                error,
            )
        else:
            logger.debug("cachekit %s (%s): %s: %s", self._label, call_type, kind, error)
