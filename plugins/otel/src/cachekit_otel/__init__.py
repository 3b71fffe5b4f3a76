"""cachekit-otel: OpenTelemetry metrics and spans for every cachekit cache in the process.

Installing the distribution is the whole set-up: its ``cachekit`` entry point
registers :data:`observer`, which records hits, misses, stores, errors, stale hits,
operation durations and what hits saved (tokens, provider latency, dollars) through
the global meter provider, and a ``cachekit.lookup`` span per lookup through the
global tracer provider, with the GenAI semantic conventions' attribute names
(``gen_ai.request.model``, ``gen_ai.operation.name``, ``gen_ai.usage.input_tokens``…)
where they exist and ``cachekit.*`` for the rest.

``observer.configure(meter_provider=..., tracer_provider=..., tracing=...)`` chooses
other providers and the tracing mode; ``observer.disable()`` / ``observer.enable()``,
or ``CACHEKIT_OTEL_DISABLED=1``, turn it off and on. :class:`OtelObserver` registers
a separate observer on a plugin manager of your own.

Importing this package does not import ``opentelemetry``; the first event does.
"""

from __future__ import annotations

from cachekit_otel._observer import DISABLE_ENV, OtelObserver, Tracing

__all__ = ["DISABLE_ENV", "OtelObserver", "Tracing", "observer"]

__version__ = "0.1.0"

#: The instance the ``cachekit`` entry point registers on every plugin manager.
observer = OtelObserver()
