"""cachekit's OpenTelemetry instruments, and how one event becomes metrics and a span.

Metrics (attributes: ``cachekit.call_type``, ``cachekit.backend``,
``cachekit.namespace``, and where known ``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.provider.name``/``gen_ai.system``):
``cachekit.hits``, ``cachekit.misses``, ``cachekit.stores``, ``cachekit.stale_hits``,
``cachekit.errors`` (+ ``error.type``), ``cachekit.tokens_saved`` (+
``gen_ai.token.type``), ``cachekit.cost_saved``, and the histograms
``cachekit.operation.duration`` (+ ``cachekit.outcome``; without the model) and
``cachekit.latency_saved`` (seconds).

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
from typing import TYPE_CHECKING, Any

from cachekit import CacheEvent, LabelLimit, event_is_stale, event_outcome
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from cachekit_otel import _attributes as attr

if TYPE_CHECKING:
    from cachekit_otel._observer import OtelObserver

__all__ = ["OPERATION_BUCKETS", "PROVIDER_BUCKETS", "OtelInstruments"]

OPERATION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025)
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
SCOPE = "cachekit"
_MEMO_SIZE = 4096
Attributes = dict[str, Any]


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
        self._memo: dict[tuple[str | None, ...], Attributes] = {}
        counter = meter.create_counter
        self.hits = counter("cachekit.hits", "{hit}", "Cache hits (stale ones included).")
        self.misses = counter("cachekit.misses", "{miss}", "Cache misses.")
        self.stores = counter("cachekit.stores", "{entry}", "Entries written.")
        self.stale_hits = counter("cachekit.stale_hits", "{hit}", "Hits from a stale entry.")
        self.errors = counter("cachekit.errors", "{error}", "Failures cachekit absorbed.")
        self.tokens = counter("cachekit.tokens_saved", "{token}", "Provider tokens hits saved.")
        self.cost = counter("cachekit.cost_saved", "USD", "Dollars hits saved (with pricing).")
        self.duration = meter.create_histogram(
            "cachekit.operation.duration",
            "s",
            "Duration of cache operations, by outcome.",
            explicit_bucket_boundaries_advisory=OPERATION_BUCKETS,
        )
        self.latency_saved = meter.create_histogram(
            "cachekit.latency_saved",
            "s",
            "Provider latency each hit avoided.",
            explicit_bucket_boundaries_advisory=PROVIDER_BUCKETS,
        )

    def close(self) -> None:
        """Instruments belong to their meter; there is nothing to release."""

    def attributes(self, event: CacheEvent) -> Attributes:
        """The event's metric attributes (memoised per label tuple: no dict per hit)."""
        memo_key = (event.call_type, event.model, event.backend, event.namespace)
        found = self._memo.get(memo_key)
        if found is None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            found = self._memo[memo_key] = self._attributes(event)
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

    def observe(self, event: CacheEvent) -> None:
        attributes = self.attributes(event)
        kind = event.kind
        outcome = event_outcome(event)
        where = {k: v for k, v in attributes.items() if k != attr.REQUEST_MODEL}
        self.duration.record(event.duration_s, {**where, attr.OUTCOME: outcome})
        if kind == "hit":
            details = self._hit(event, attributes)
        elif kind == "miss":
            self.misses.add(1, attributes)
            details = {attr.HIT: False}
        elif kind == "store":
            self.stores.add(1, attributes)
            details = {} if event.ttl_s is None else {attr.TTL: event.ttl_s}
        elif kind == "error":
            error = "unknown" if event.error is None else type(event.error).__name__
            details = {attr.ERROR_TYPE: self.error_type(error)}
            self.errors.add(1, {**attributes, **details})
        else:
            details = {}
        if self.tracing != "off":
            self._trace(event, outcome, {**attributes, attr.OUTCOME: outcome, **details})

    def _hit(self, event: CacheEvent, attributes: Attributes) -> Attributes:
        stale = event_is_stale(event)
        self.hits.add(1, attributes)
        details: Attributes = {attr.HIT: True, attr.STALE: stale}
        if stale:
            self.stale_hits.add(1, attributes)
        if event.age_s is not None:
            details[attr.ENTRY_AGE] = event.age_s
        if event.similarity is not None:
            details[attr.SIMILARITY] = event.similarity
        if event.latency_saved_s is not None:
            self.latency_saved.record(event.latency_saved_s, attributes)
            details[attr.LATENCY_SAVED] = event.latency_saved_s
        if event.cost_saved is not None:
            self.cost.add(event.cost_saved, attributes)
            details[attr.COST_SAVED] = event.cost_saved
        for token_type, name, count in (
            ("input", attr.INPUT_TOKENS, getattr(event, "prompt_tokens_saved", None)),
            ("output", attr.OUTPUT_TOKENS, getattr(event, "completion_tokens_saved", None)),
        ):
            if count is not None:
                self.tokens.add(count, {**attributes, attr.TOKEN_TYPE: token_type})
                details[name] = count
        return details

    def _trace(self, event: CacheEvent, outcome: str, attributes: Attributes) -> None:
        """A backdated span per lookup, or a span event on the current span."""
        if self.tracing == "spans" and event.kind in ("hit", "miss"):
            end = time.time_ns()
            span = self.tracer.start_span(
                "cachekit.lookup",
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=end - int(event.duration_s * 1e9),
            )
            span.end(end_time=end)
            return
        current = trace.get_current_span()
        if current.is_recording():
            current.add_event("cachekit." + outcome, attributes)
