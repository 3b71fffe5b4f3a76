"""Counters and latency percentiles of one ``Cache``."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CacheStats", "StatsRecorder"]

_WINDOW = 2048  # latencies kept per operation (the most recent ones)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass(frozen=True)
class CacheStats:
    """A snapshot. Latencies are seconds over the last ``2048`` operations of each kind."""

    hits: int
    misses: int
    stores: int
    errors: int
    latency: dict[str, dict[str, float]] = field(default_factory=dict)

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
            "latency": {op: dict(v) for op, v in self.latency.items()},
        }


class StatsRecorder:
    """Cheap to update on the hot path: integer adds and a bounded deque append."""

    __slots__ = ("_lat", "_lock", "errors", "get_latency", "hits", "misses", "stores")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.errors = 0
        #: The hot path appends to this window directly (one attribute, no call).
        self.get_latency: deque[float] = deque(maxlen=_WINDOW)
        self._lat: dict[str, deque[float]] = {"get": self.get_latency}
        self._lock = threading.Lock()

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
        return CacheStats(self.hits, self.misses, self.stores, self.errors, latency)
