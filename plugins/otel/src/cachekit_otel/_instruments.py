"""cachekit's OpenTelemetry instruments, and how one event becomes metrics and a span.

Metrics (attributes: ``cachekit.call_type``, ``cachekit.backend``,
``cachekit.namespace``, and where known ``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.provider.name``/``gen_ai.system``):
``cachekit.hits``, ``cachekit.misses``, ``cachekit.stores``, ``cachekit.stale_hits``,
``cachekit.errors`` (+ ``error.type``), ``cachekit.tokens_saved`` (+
``gen_ai.token.type``), ``cachekit.cost_saved`` and ``cachekit.latency_saved``
(seconds) — observable counters fed from in-process totals (see :mod:`._totals`) —
and the histogram ``cachekit.operation.duration`` (+ ``cachekit.outcome``; without
the model), the one instrument recorded on the hit path.

Spans: why one per lookup by default. A hit *replaces* a provider call, and the
GenAI instrumentations (which wrap the SDK) record nothing for a call that never
reached the SDK, so without a span the answered call is missing from the trace. The
observer runs after the lookup, so the span is backdated to its start (``duration_s``
earlier) and ended at once: no context is held across the lookup. Its cost is in
``benchmarks/`` (hit path with this observer); ``tracing="events"`` puts the same
attributes on the current span as an event instead (cheaper, and free when no span
is recording), ``tracing="off"`` keeps metrics only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cachekit import CacheEvent, LabelLimit, event_is_stale, event_outcome
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from cachekit_otel import _attributes as attr
from cachekit_otel._totals import Attributes, Totals

if TYPE_CHECKING:
    from cachekit_otel._observer import OtelObserver

__all__ = ["COUNTERS", "OPERATION_BUCKETS", "OtelInstruments"]

#: Cache operations take microseconds (local) to tens of milliseconds (remote).
OPERATION_BUCKETS = (
    *(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01),
    *(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SCOPE = "cachekit"
_MEMO_SIZE = 4096

#: name → (unit, description) of the observable counters.
COUNTERS = {
    "cachekit.hits": ("{hit}", "Cache hits (stale ones included)."),
    "cachekit.misses": ("{miss}", "Cache misses."),
    "cachekit.stores": ("{entry}", "Entries written."),
    "cachekit.stale_hits": ("{hit}", "Hits served from a stale entry."),
    "cachekit.errors": ("{error}", "Failures cachekit absorbed, by exception class."),
    "cachekit.tokens_saved": ("{token}", "Provider tokens hits saved."),
    "cachekit.cost_saved": ("USD", "Dollars hits saved (with Cache(pricing=...))."),
    "cachekit.latency_saved": ("s", "Provider latency hits avoided."),
}


class Series:
    """The metric attributes of one (call type, model, backend, namespace), memoised."""

    __slots__ = ("attributes", "durations", "key", "where")

    def __init__(self, attributes: Attributes) -> None:
        self.attributes = attributes
        self.key = tuple(attributes.items())
        self.where = {k: v for k, v in attributes.items() if k != attr.REQUEST_MODEL}
        self.durations: dict[str, Attributes] = {}

    def duration(self, outcome: str) -> Attributes:
        """The histogram's attributes: no model, plus the outcome."""
        found = self.durations.get(outcome)
        if found is None:
            found = self.durations[outcome] = {**self.where, attr.OUTCOME: outcome}
        return found


class OtelInstruments:
    """The meter's instruments and the tracer; :meth:`observe` records one event."""

    def __init__(self, settings: OtelObserver) -> None:
        meters = settings.meter_provider or metrics.get_meter_provider()
        tracers = settings.tracer_provider or trace.get_tracer_provider()
        meter = meters.get_meter(SCOPE)
        self.tracer = tracers.get_tracer(SCOPE)
        self.tracing = settings.tracing
        self.model = LabelLimit(settings.max_models)
        self.namespace = LabelLimit(settings.max_namespaces)
        self.error_type = LabelLimit(50)
        self._memo: dict[tuple[str | None, ...], Series] = {}
        self.totals = Totals()
        for name, (unit, description) in COUNTERS.items():
            callback = self.totals.callback(name)
            meter.create_observable_counter(name, [callback], unit, description)
        self.duration = meter.create_histogram(
            "cachekit.operation.duration",
            "s",
            "Duration of cache operations, by outcome.",
            explicit_bucket_boundaries_advisory=OPERATION_BUCKETS,
        )

    def close(self) -> None:
        """Instruments belong to their meter; there is nothing to release."""

    def series(self, event: CacheEvent) -> Series:
        memo_key = (event.call_type, event.model, event.backend, event.namespace)
        found = self._memo.get(memo_key)
        if found is None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            found = self._memo[memo_key] = Series(self._attributes(event))
        return found

    def _attributes(self, event: CacheEvent) -> Attributes:
        attributes: Attributes = {
            attr.CALL_TYPE: event.call_type,
            attr.BACKEND: event.backend,
            attr.NAMESPACE: self.namespace(event.namespace),
        }
        operation = attr.OPERATIONS.get(event.call_type)
        if operation is not None:
            attributes[attr.OPERATION] = operation
        if event.model is not None:
            attributes[attr.REQUEST_MODEL] = self.model(event.model)
            provider = attr.provider_of(event.model)
            if provider is not None:
                attributes[attr.PROVIDER] = attributes[attr.SYSTEM] = provider
        return attributes

    def count(self, metric: str, series: Series, amount: float = 1, **extra: str) -> None:
        if amount < 0:  # counters only go up: a foreign entry's negative usage is left out
            return
        if extra:
            attributes = {**series.attributes, **extra}
            self.totals.add(metric, (*series.key, *extra.items()), attributes, amount)
        else:
            self.totals.add(metric, series.key, series.attributes, amount)

    def observe(self, event: CacheEvent) -> None:
        series = self.series(event)
        kind = event.kind
        outcome = event_outcome(event)
        self.duration.record(event.duration_s, series.duration(outcome))
        details: Attributes = {}
        if kind == "hit":
            details = self._hit(event, series)
        elif kind == "miss":
            self.count("cachekit.misses", series)
            details = {attr.HIT: False}
        elif kind == "store":
            self.count("cachekit.stores", series)
            if event.ttl_s is not None:
                details = {attr.TTL: event.ttl_s}
        elif kind == "error":
            error = "unknown" if event.error is None else type(event.error).__name__
            details = {attr.ERROR_TYPE: self.error_type(error)}
            self.count("cachekit.errors", series, **details)
        if self.tracing != "off":
            self._trace(event, outcome, series, details)

    def _hit(self, event: CacheEvent, series: Series) -> Attributes:
        stale = event_is_stale(event)
        self.count("cachekit.hits", series)
        details: Attributes = {attr.HIT: True, attr.STALE: stale}
        if stale:
            self.count("cachekit.stale_hits", series)
        if event.age_s is not None:
            details[attr.ENTRY_AGE] = event.age_s
        if event.similarity is not None:
            details[attr.SIMILARITY] = event.similarity
        if event.latency_saved_s is not None:
            self.count("cachekit.latency_saved", series, event.latency_saved_s)
            details[attr.LATENCY_SAVED] = event.latency_saved_s
        if event.cost_saved is not None:
            self.count("cachekit.cost_saved", series, event.cost_saved)
            details[attr.COST_SAVED] = event.cost_saved
        for token_type, name, tokens in (
            ("input", attr.INPUT_TOKENS, getattr(event, "prompt_tokens_saved", None)),
            ("output", attr.OUTPUT_TOKENS, getattr(event, "completion_tokens_saved", None)),
        ):
            if tokens is not None:
                self.count("cachekit.tokens_saved", series, tokens, **{attr.TOKEN_TYPE: token_type})
                details[name] = tokens
        return details

    def _trace(self, event: CacheEvent, outcome: str, series: Series, details: Attributes) -> None:
        """A backdated span per lookup, or a span event on the current span. The
        attributes are built only for a span that records (not for the API's no-op
        tracer, nor for one a sampler dropped)."""
        if self.tracing == "spans" and event.kind in ("hit", "miss"):
            end = time.time_ns()
            span = self.tracer.start_span(
                "cachekit.lookup",
                kind=SpanKind.INTERNAL,
                start_time=end - int(event.duration_s * 1e9),
            )
            if span.is_recording():
                span.set_attributes({**series.attributes, attr.OUTCOME: outcome, **details})
            span.end(end_time=end)
            return
        current = trace.get_current_span()
        if current.is_recording():
            attributes = {**series.attributes, attr.OUTCOME: outcome, **details}
            current.add_event("cachekit." + outcome, attributes)
