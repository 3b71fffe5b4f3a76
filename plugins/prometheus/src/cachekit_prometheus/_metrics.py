"""The Prometheus metrics of cachekit, created in one registry (imports ``prometheus_client``).

Every series is labelled by ``call_type``, ``model``, ``backend`` and ``namespace``
(plus ``error``, ``token_type`` or ``outcome`` where named) — never by a key, a
prompt or anything else taken from a request's content. ``model`` and ``namespace``
are bounded by :class:`cachekit.LabelLimit`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from cachekit import CacheEvent, LabelLimit, event_is_stale, event_outcome
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = ["LABELS", "OPERATION_BUCKETS", "PROVIDER_BUCKETS", "PrometheusMetrics", "Series"]

LABELS = ("call_type", "model", "backend", "namespace")
#: Cache operations take microseconds (local) to tens of milliseconds (remote).
OPERATION_BUCKETS = (
    *(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01),
    *(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
#: Provider calls take tenths of a second to minutes.
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
#: Label sets remembered with their series before the memo is dropped and rebuilt.
_MEMO_SIZE = 4096


class PrometheusMetrics:
    """The metric families, and :meth:`observe` to record one event into them."""

    def __init__(
        self, registry: CollectorRegistry | None, max_models: int, max_namespaces: int
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        self.model = LabelLimit(max_models)
        self.namespace = LabelLimit(max_namespaces)
        self.error_type = LabelLimit(50)
        self._families: list[Counter | Histogram] = []
        self._memo: dict[tuple[str | None, ...], Series] = {}
        try:
            self._create()
        except Exception:
            self.close()  # a half-registered set would block the next attempt
            raise

    def _create(self) -> None:
        add = self._add
        self.hits = add(Counter, "cachekit_hits", "Cache hits (stale ones included).")
        self.misses = add(Counter, "cachekit_misses", "Cache misses.")
        self.stores = add(Counter, "cachekit_stores", "Entries written.")
        self.stale_hits = add(Counter, "cachekit_stale_hits", "Hits served from a stale entry.")
        self.errors = add(
            Counter, "cachekit_errors", "Failures cachekit absorbed, by kind.", ("error",)
        )
        self.tokens = add(
            Counter,
            "cachekit_tokens_saved",
            "Provider tokens hits saved (token_type prompt/completion; total when the "
            "stored usage has no split).",
            ("token_type",),
        )
        self.cost = add(Counter, "cachekit_cost_saved_usd", "Dollars hits saved (with pricing).")
        self.latency_saved = add(
            Histogram,
            "cachekit_provider_latency_saved_seconds",
            "Provider latency each hit avoided (the miss's measured call).",
            buckets=PROVIDER_BUCKETS,
        )
        self.operation = self._add(
            Histogram,
            "cachekit_operation_seconds",
            "Duration of cache operations, by outcome (hit, miss, store, error...).",
            ("outcome",),
            labels=("call_type", "backend", "namespace"),
            buckets=OPERATION_BUCKETS,
        )

    def _add(
        self,
        kind: Callable[..., Any],
        name: str,
        doc: str,
        extra: tuple[str, ...] = (),
        *,
        labels: tuple[str, ...] = LABELS,
        **options: Any,
    ) -> Any:
        family = kind(name, doc, (*labels, *extra), registry=self.registry, **options)
        self._families.append(family)
        return family

    def close(self) -> None:
        """Remove the families from the registry (so they can be created again)."""
        for family in self._families:
            with contextlib.suppress(KeyError):  # never registered (the one that clashed)
                self.registry.unregister(family)
        self._families.clear()
        self._memo.clear()

    def _series(self, event: CacheEvent) -> Series:
        """The bounded label values of the event's series, memoised by its raw values."""
        raw = (event.call_type, event.model, event.backend, event.namespace)
        series = self._memo.get(raw)
        if series is None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            labels = (raw[0], self.model(raw[1]), raw[2], self.namespace(raw[3]))
            series = self._memo[raw] = Series(labels)
        return series

    def observe(self, event: CacheEvent) -> None:
        series = self._series(event)
        kind = event.kind
        outcome = event_outcome(event)
        series.child("op " + outcome, self.operation, outcome, model=False).observe(
            event.duration_s
        )
        if kind == "hit":
            self._hit(event, series)
        elif kind == "miss":
            series.child("misses", self.misses).inc()
        elif kind == "store":
            series.child("stores", self.stores).inc()
        elif kind == "error":
            error = self.error_type(
                "unknown" if event.error is None else type(event.error).__name__
            )
            series.child("error " + error, self.errors, error).inc()

    def _hit(self, event: CacheEvent, series: Series) -> None:
        series.child("hits", self.hits).inc()
        if event_is_stale(event):
            series.child("stale", self.stale_hits).inc()
        if event.latency_saved_s is not None and event.latency_saved_s >= 0:
            series.child("latency", self.latency_saved).observe(event.latency_saved_s)
        prompt = getattr(event, "prompt_tokens_saved", None)
        completion = getattr(event, "completion_tokens_saved", None)
        # counters only go up: a negative count (a foreign entry's usage) is left out
        if prompt is None and completion is None:
            if event.tokens_saved and event.tokens_saved > 0:
                series.child("tokens total", self.tokens, "total").inc(event.tokens_saved)
        else:
            if prompt and prompt > 0:
                series.child("tokens prompt", self.tokens, "prompt").inc(prompt)
            if completion and completion > 0:
                series.child("tokens completion", self.tokens, "completion").inc(completion)
        if event.cost_saved is not None and event.cost_saved >= 0:
            series.child("cost", self.cost).inc(event.cost_saved)


class Series:
    """One label set's bound metric children, created on first use: a hit takes a dict
    lookup per metric instead of ``family.labels(...)``."""

    __slots__ = ("children", "labels")

    def __init__(self, labels: tuple[str, str, str, str]) -> None:
        self.labels = labels
        self.children: dict[str, Any] = {}

    def child(self, name: str, family: Any, *extra: str, model: bool = True) -> Any:
        found = self.children.get(name)
        if found is None:
            call_type, _, backend, namespace = self.labels
            values = self.labels if model else (call_type, backend, namespace)
            found = self.children[name] = family.labels(*values, *extra)
        return found
