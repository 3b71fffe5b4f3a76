"""Counters, savings and latency percentiles of one ``Cache``.

Kept cheap on the hot path: integer adds, a dict lookup per breakdown and a bounded
deque append. Breakdowns: per call type, per model (LLM calls) and per namespace.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachekit._engine._savings import Saved

__all__ = ["CacheStats", "StatsRecorder", "Tally"]

_WINDOW = 2048  # latencies kept per operation (the most recent ones)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class Tally:
    """Hits, misses and savings of one slice (a call type, a model, a namespace)."""

    __slots__ = ("cost_saved", "hits", "latency_saved_s", "misses", "priced", "tokens_saved")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.tokens_saved = 0
        self.latency_saved_s = 0.0
        self.cost_saved = 0.0
        self.priced = 0

    def add_saved(self, saved: Saved) -> None:
        if saved.tokens is not None:
            self.tokens_saved += saved.tokens
        if saved.latency_s is not None:
            self.latency_saved_s += saved.latency_s
        if saved.cost is not None:
            self.cost_saved += saved.cost
            self.priced += 1

    def as_dict(self) -> dict[str, Any]:
        lookups = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": self.hits / lookups if lookups else 0.0,
            "tokens_saved": self.tokens_saved,
            "latency_saved_s": self.latency_saved_s,
            "cost_saved": self.cost_saved if self.priced else None,
        }


@dataclass(frozen=True)
class CacheStats:
    """A snapshot. Latencies are seconds over the last ``2048`` operations of each kind.

    ``tokens_saved``, ``latency_saved_s`` and ``cost_saved`` (``None`` unless the cache
    has a price list) add up what every hit saved; ``stale_hits`` (part of ``hits``) were
    served past their freshness under ``stale-while-revalidate``; ``refreshes`` and
    ``refresh_failures`` count finished background refreshes; ``stale_on_error``
    counts stale entries served because the provider raised (``stale-if-error``; the
    lookup was counted as a miss); ``by_call_type``, ``by_model`` and
    ``by_namespace`` break hits, misses, hit ratio and savings down. These count this
    process only."""

    hits: int
    misses: int
    stores: int
    errors: int
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    tokens_saved: int = 0
    latency_saved_s: float = 0.0
    cost_saved: float | None = None
    by_call_type: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_namespace: dict[str, dict[str, Any]] = field(default_factory=dict)
    stale_hits: int = 0
    refreshes: int = 0
    refresh_failures: int = 0
    stale_on_error: int = 0

    @property
    def fresh_hits(self) -> int:
        """Hits served within their freshness (``hits`` counts stale hits too)."""
        return self.hits - self.stale_hits

    @property
    def hit_ratio(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "stores": self.stores,
            "errors": self.errors,
            "hit_ratio": self.hit_ratio,
            "fresh_hits": self.fresh_hits,
            "stale_hits": self.stale_hits,
            "refreshes": self.refreshes,
            "refresh_failures": self.refresh_failures,
            "stale_on_error": self.stale_on_error,
            "tokens_saved": self.tokens_saved,
            "latency_saved_s": self.latency_saved_s,
            "cost_saved": self.cost_saved,
            "by_call_type": {k: dict(v) for k, v in self.by_call_type.items()},
            "by_model": {k: dict(v) for k, v in self.by_model.items()},
            "by_namespace": {k: dict(v) for k, v in self.by_namespace.items()},
            "latency": {op: dict(v) for op, v in self.latency.items()},
        }


class StatsRecorder:
    """Cheap to update on the hot path: integer adds and a bounded deque append."""

    __slots__ = (
        "_lat",
        "_lock",
        "_slices",
        "by_call_type",
        "by_model",
        "by_namespace",
        "errors",
        "get_latency",
        "hits",
        "misses",
        "refresh_failures",
        "refreshes",
        "saved",
        "stale_hits",
        "stale_on_error",
        "stores",
    )

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.errors = 0
        self.stale_hits = 0
        self.refreshes = 0
        self.refresh_failures = 0
        self.stale_on_error = 0
        #: Savings of every hit, and the breakdowns.
        self.saved = Tally()
        self.by_call_type: dict[str, Tally] = {}
        self.by_model: dict[str, Tally] = {}
        self.by_namespace: dict[str, Tally] = {}
        self._slices: dict[tuple[str, str, str | None], tuple[Tally, ...]] = {}
        #: The hot path appends to this window directly (one attribute, no call).
        self.get_latency: deque[float] = deque(maxlen=_WINDOW)
        self._lat: dict[str, deque[float]] = {"get": self.get_latency}
        self._lock = threading.Lock()

    def _tallies(self, call_type: str, namespace: str, model: str | None) -> tuple[Tally, ...]:
        slices = self._slices.get((call_type, namespace, model))
        if slices is None:
            with self._lock:
                found = []
                for table, label in (
                    (self.by_call_type, call_type),
                    (self.by_namespace, namespace),
                    (self.by_model, model),
                ):
                    if label is not None:
                        found.append(table.setdefault(label, Tally()))
                slices = self._slices[(call_type, namespace, model)] = tuple(found)
        return slices

    def plain_tallies(self, call_type: str, namespace: str) -> tuple[Tally, ...]:
        """The slices a hit without a model or savings counts in (the key-value API's):
        a caller that keeps them counts such a hit as ``hits += 1`` and ``tally.hits += 1``
        for each, exactly what :meth:`hit` does, without the lookup."""
        return self._tallies(call_type, namespace, None)

    def hit(self, call_type: str, namespace: str, model: str | None, saved: Saved | None) -> None:
        self.hits += 1
        if saved is not None:
            model = saved.model or model
            self.saved.add_saved(saved)
        for tally in self._tallies(call_type, namespace, model):
            tally.hits += 1
            if saved is not None:
                tally.add_saved(saved)

    def miss(self, call_type: str, namespace: str, model: str | None) -> None:
        self.misses += 1
        for tally in self._tallies(call_type, namespace, model):
            tally.misses += 1

    def latency(self, op: str, seconds: float) -> None:
        window = self._lat.get(op)
        if window is None:
            with self._lock:
                window = self._lat.setdefault(op, deque(maxlen=_WINDOW))
        window.append(seconds)

    def snapshot(self) -> CacheStats:
        latency: dict[str, dict[str, float]] = {}
        for op, window in list(self._lat.items()):
            values = sorted(window)
            latency[op] = {
                "count": float(len(values)),
                "p50": _percentile(values, 0.50),
                "p90": _percentile(values, 0.90),
                "p99": _percentile(values, 0.99),
                "max": values[-1] if values else 0.0,
            }
        saved = self.saved
        return CacheStats(
            self.hits,
            self.misses,
            self.stores,
            self.errors,
            latency,
            tokens_saved=saved.tokens_saved,
            latency_saved_s=saved.latency_saved_s,
            cost_saved=saved.cost_saved if saved.priced else None,
            by_call_type={k: t.as_dict() for k, t in list(self.by_call_type.items())},
            by_model={k: t.as_dict() for k, t in list(self.by_model.items())},
            by_namespace={k: t.as_dict() for k, t in list(self.by_namespace.items())},
            stale_hits=self.stale_hits,
            refreshes=self.refreshes,
            refresh_failures=self.refresh_failures,
            stale_on_error=self.stale_on_error,
        )
