"""The observer class. Importing it imports no ``opentelemetry``: the instruments are
created when the first cache event arrives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from cachekit import MetricsObserver

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from cachekit_otel._instruments import OtelInstruments

__all__ = ["DISABLE_ENV", "OtelObserver", "Tracing"]

#: Set (to anything non-empty) to keep the installed observer from recording.
DISABLE_ENV = "CACHEKIT_OTEL_DISABLED"

#: ``"spans"``: one span per lookup (hit or miss); ``"events"``: a span event on the
#: current span instead; ``"off"``: metrics only. Stores and errors are span events.
Tracing = Literal["spans", "events", "off"]


class OtelObserver(MetricsObserver["OtelInstruments"]):
    """Records cache events as OpenTelemetry metrics and spans.

    ``meter_provider`` / ``tracer_provider`` default to the global providers (looked
    up when the first event arrives, so an SDK configured later is still used).
    ``max_models`` and ``max_namespaces`` bound those attributes' values.
    """

    name = "cachekit-otel"
    disable_env = DISABLE_ENV

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        *,
        tracing: Tracing = "spans",
        max_models: int = 50,
        max_namespaces: int = 50,
    ) -> None:
        super().__init__(max_models=max_models, max_namespaces=max_namespaces)
        if tracing not in ("spans", "events", "off"):
            raise ValueError(f"tracing must be 'spans', 'events' or 'off', got {tracing!r}")
        self.meter_provider = meter_provider
        self.tracer_provider = tracer_provider
        self.tracing: Tracing = tracing

    def build(self) -> OtelInstruments:
        from cachekit_otel._instruments import OtelInstruments

        return OtelInstruments(self)
