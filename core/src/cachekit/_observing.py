"""The shared shell of metrics observer plugins (``cachekit-prometheus``, ``cachekit-otel``).

A metrics plugin is found through the entry point in every process that builds a
cache, so registering it must cost nothing: :class:`MetricsObserver` imports its
client library (through :meth:`MetricsObserver.build`) on the first event it
observes, not before. It also gives every such plugin the same switches and the same
fail-open rule:

* ``enabled`` — off when the environment variable named by ``disable_env`` is set
  (read when the observer is created) or after :meth:`MetricsObserver.disable`; a
  disabled observer returns at once. :meth:`MetricsObserver.configure` replaces the
  settings in place (the plugin's entry point registered this very object).
* a sink that cannot be built (a metric name already taken in a registry, a broken
  provider) logs **one** WARNING with its cause and the observer stays quiet until
  :meth:`MetricsObserver.reset`; an exception from the sink itself is the core's
  business (logged, counted, never breaks the call).
* :class:`LabelLimit` bounds the values a label may take (``model``, ``namespace``),
  so a caller that sends a thousand model names cannot make a thousand series.

Events are read generically, so event kinds and fields added later (stale hits,
refreshes) show up as label values without a change here: :func:`event_outcome` is
the event's ``outcome`` when it has one and its ``kind`` otherwise;
:func:`event_is_stale` is true for an event that says it is stale.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Generic, Protocol, Self, TypeVar

from cachekit._engine._events import CacheEvent
from cachekit.hookspecs import hookimpl

__all__ = [
    "DEFAULT_MAX_LABELS",
    "OTHER",
    "LabelLimit",
    "MetricsObserver",
    "event_is_stale",
    "event_outcome",
]

logger = logging.getLogger("cachekit")

#: The label value that stands for every value past a :class:`LabelLimit`.
OTHER = "other"
#: Distinct values a bounded label keeps by default before later ones become OTHER.
DEFAULT_MAX_LABELS = 50


class Sink(Protocol):
    """What :meth:`MetricsObserver.build` returns: records events, can be released."""

    def observe(self, event: CacheEvent) -> None: ...

    def close(self) -> None: ...


SinkT = TypeVar("SinkT", bound=Sink)


def event_outcome(event: CacheEvent) -> str:
    """The event's outcome as a label value: its ``kind``, or ``"stale_hit"`` (a hit
    served while a background refresh runs), ``"stale_on_error"`` (a stale entry served
    because the provider raised), ``"refresh_store"``/``"refresh_error"`` (what a
    background refresh did)."""
    if event.stale is not None:
        return "stale_hit" if event.stale == "while-revalidate" else "stale_on_error"
    if event.refresh:
        return "refresh_" + event.kind
    return event.kind


def event_is_stale(event: CacheEvent) -> bool:
    """Whether the event served an entry past its freshness (either stale window)."""
    return event.stale is not None


class LabelLimit:
    """Lets the first ``limit`` distinct values of a label through; later ones, and
    values longer than ``max_length`` characters, become :data:`OTHER`. ``None``
    becomes ``""`` (Prometheus: the label is absent)."""

    def __init__(self, limit: int, *, max_length: int = 100) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"a label limit must be an int >= 0, got {limit!r}")
        self.limit = limit
        self.max_length = max_length
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if value is None:
            return ""
        if value in self._seen:
            return value
        if len(value) > self.max_length:
            return OTHER
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


class MetricsObserver(Generic[SinkT]):
    """An observer plugin that records every event into a sink built on first use.

    Subclasses set ``name`` (for the warning) and ``disable_env``, take their own
    settings as public attributes, and implement :meth:`build`, which imports the
    client library and returns the sink. ``max_models`` and ``max_namespaces`` bound
    the values of those two labels (:class:`LabelLimit`).
    """

    name = "metrics"
    disable_env = ""

    def __init__(
        self, *, max_models: int = DEFAULT_MAX_LABELS, max_namespaces: int = DEFAULT_MAX_LABELS
    ) -> None:
        LabelLimit(max_models), LabelLimit(max_namespaces)  # validated before any event
        self.max_models = max_models
        self.max_namespaces = max_namespaces
        self.enabled = not (self.disable_env and os.environ.get(self.disable_env))
        self._sink: SinkT | None = None
        self._broken = False
        self._lock = threading.Lock()

    def configure(self, *args: Any, **settings: Any) -> Self:
        """Take the settings of ``type(self)(*args, **settings)`` — validated first,
        so a bad one changes nothing; ``enabled`` too, as a new observer would have it
        (the environment switch applies) — and rebuild the instruments on the next event."""
        fresh = type(self)(*args, **settings)
        self.reset()
        for attribute, value in vars(fresh).items():
            if not attribute.startswith("_"):
                setattr(self, attribute, value)
        return self

    def enable(self) -> None:
        """Record events (the default unless ``disable_env`` is set)."""
        self.enabled = True

    def disable(self) -> None:
        """Stop recording, for every cache in the process (the observer stays registered)."""
        self.enabled = False

    def build(self) -> SinkT:
        """Import the client library and create the instruments (called once)."""
        raise NotImplementedError

    def sink(self) -> SinkT | None:
        """The instruments, built now if they were not; ``None`` if building failed.

        (A method, not a property: pluggy reads every attribute when it registers a
        plugin, and reading this one must not import the client library.)"""
        if self._sink is None and not self._broken:
            with self._lock:
                if self._sink is None and not self._broken:
                    try:
                        self._sink = self.build()
                    except Exception as exc:
                        self._broken = True
                        logger.warning(
                            "%s: cannot create its metrics (%s: %s); it records nothing "
                            "until it is configured again (configure() or reset())",
                            self.name,
                            type(exc).__name__,
                            exc,
                        )
        return self._sink

    def reset(self) -> None:
        """Release the instruments; the next event builds them again."""
        with self._lock:
            sink, self._sink, self._broken = self._sink, None, False
        if sink is not None:
            sink.close()

    def observe(self, event: CacheEvent) -> None:
        """Record ``event`` (what every ``cachekit_on_*`` hook of this class does)."""
        if self.enabled:
            sink = self._sink or self.sink()
            if sink is not None:
                sink.observe(event)

    @hookimpl
    def cachekit_on_hit(self, event: CacheEvent) -> None:
        self.observe(event)

    @hookimpl
    def cachekit_on_miss(self, event: CacheEvent) -> None:
        self.observe(event)

    @hookimpl
    def cachekit_on_store(self, event: CacheEvent) -> None:
        self.observe(event)

    @hookimpl
    def cachekit_on_error(self, event: CacheEvent) -> None:
        self.observe(event)
