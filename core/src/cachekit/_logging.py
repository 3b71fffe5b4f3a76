"""A built-in observer that logs cache events through the standard library.

Off by default. ``cachekit.enable_logging()`` registers it on the process-wide
plugin manager (or on ``plugins=``); ``disable_logging()`` removes it. Hits,
misses and stores log at DEBUG, errors at WARNING, on the ``cachekit.events``
logger. A line carries the event's fields — never request parameters, values or
credentials (keys are digests).
"""

from __future__ import annotations

import logging

import pluggy

from cachekit._engine._events import CacheEvent
from cachekit._kernel._manager import get_plugin_manager
from cachekit.hookspecs import hookimpl

__all__ = ["LoggingObserver", "disable_logging", "enable_logging"]

PLUGIN_NAME = "cachekit.logging"


class LoggingObserver:
    """Logs every cache event on ``logger`` (default ``cachekit.events``)."""

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.DEBUG) -> None:
        self.logger = logger or logging.getLogger("cachekit.events")
        self.level = level

    def _log(self, level: int, event: CacheEvent) -> None:
        if not self.logger.isEnabledFor(level):
            return
        extra = ""
        if event.age_s is not None:
            extra += f" age={event.age_s:.3f}s"
        if event.similarity is not None:
            extra += f" similarity={event.similarity:.3f}"
        if event.ttl_s is not None:
            extra += f" ttl={event.ttl_s}s"
        if event.error is not None:
            extra += f" error={type(event.error).__name__}: {event.error}"
        self.logger.log(
            level,
            "cache %s %s backend=%s namespace=%s key=%s %.1fus%s",
            event.kind,
            event.call_type,
            event.backend,
            event.namespace,
            event.key,
            event.duration_s * 1e6,
            extra,
        )

    @hookimpl
    def cachekit_on_hit(self, event: CacheEvent) -> None:
        self._log(self.level, event)

    @hookimpl
    def cachekit_on_miss(self, event: CacheEvent) -> None:
        self._log(self.level, event)

    @hookimpl
    def cachekit_on_store(self, event: CacheEvent) -> None:
        self._log(self.level, event)

    @hookimpl
    def cachekit_on_error(self, event: CacheEvent) -> None:
        self._log(max(self.level, logging.WARNING), event)


def enable_logging(
    *,
    level: int = logging.DEBUG,
    logger: logging.Logger | None = None,
    plugins: pluggy.PluginManager | None = None,
) -> LoggingObserver:
    """Register (or replace) the logging observer; it sees the very next call."""
    pm = plugins or get_plugin_manager()
    disable_logging(plugins=pm)
    observer = LoggingObserver(logger, level)
    pm.register(observer, name=PLUGIN_NAME)
    return observer


def disable_logging(*, plugins: pluggy.PluginManager | None = None) -> None:
    """Remove the logging observer if it is registered."""
    pm = plugins or get_plugin_manager()
    if pm.get_plugin(PLUGIN_NAME) is not None:
        pm.unregister(name=PLUGIN_NAME)
