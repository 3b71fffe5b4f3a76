"""The wrapped async LLM-call hit with each observer plugin installed, against none.

One workload, "LLM call hit with observers, async, 1 KB messages": the same
``cache.cached("acompletion")(provider)`` hit over ``Cache(type="local")`` as in
``llm_calls.py`` (a ~1 KB ChatCompletion-shaped answer with usage, so every hit
records tokens and latency saved), each row on a plugin manager of its own:

* floor: no observer (the hit path builds no event at all);
* ``cachekit-prometheus`` recording into a private ``CollectorRegistry``;
* ``cachekit-prometheus`` installed but disabled (``observer.disable()``): the cost of
  the event alone;
* ``cachekit-otel`` on the OpenTelemetry SDK (``MeterProvider`` with an in-memory
  reader; ``TracerProvider`` with a ``BatchSpanProcessor`` — the production default —
  into an in-memory exporter): ``tracing="spans"`` (default), ``"events"`` (no span is
  current, so nothing is recorded for tracing) and ``"off"``; and with no SDK at all
  (the API's no-op global providers: what installing the plugin costs an application
  that has not configured OpenTelemetry).

Every other workload runs without these observers (``benchmarks/__main__.py`` leaves
them out of the process-wide plugin manager and disables them in subprocesses), as a
user who has not installed them gets cachekit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.harness import Ctx, Op, Workload
from benchmarks.workloads.keys import request_kwargs
from benchmarks.workloads.llm_calls import MISSED, RESPONSE, Provider

ORDER = 51


def _hit_with(ctx: Ctx, observer: Any | None, kwargs: dict[str, Any]) -> Op:
    from cachekit import Cache, build_plugin_manager

    pm = build_plugin_manager(autoload=False)
    if observer is not None:
        pm.register(observer)
    cache = Cache(type="local", plugins=pm)
    ctx.defer(cache.aclose)
    provider = Provider()
    wrapped = cache.cached("acompletion")(provider.acall)
    ctx.run(wrapped(**kwargs))  # the miss: stored
    provider.answer = MISSED
    return lambda: wrapped(**kwargs)


def _prometheus(enabled: bool) -> Callable[[], Any]:
    def make() -> Any:
        from cachekit_prometheus import PrometheusObserver
        from prometheus_client import CollectorRegistry

        observer = PrometheusObserver(CollectorRegistry())
        observer.enabled = enabled  # (benchmarks/__main__.py disables the installed ones)
        return observer

    return make


def _otel_api_only() -> Any:
    from cachekit_otel import OtelObserver

    observer = OtelObserver()  # the global providers: the API's no-op ones here
    observer.enabled = True
    return observer


def _otel(ctx: Ctx, tracing: str) -> Callable[[], Any]:
    def make() -> Any:
        from cachekit_otel import OtelObserver
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
        tracers = TracerProvider()
        tracers.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
        ctx.defer(meters.shutdown)
        ctx.defer(tracers.shutdown)
        observer = OtelObserver(meters, tracers, tracing=tracing)  # type: ignore[arg-type]
        observer.enabled = True  # benchmarks/__main__.py disables the installed ones
        return observer

    return make


def build(ctx: Ctx) -> None:
    kwargs = request_kwargs(1024)
    rows: list[tuple[str, Callable[[], Any] | None, str]] = [
        ("cachekit hit, no observer", None, ""),
        ("cachekit hit + cachekit-prometheus", _prometheus(True), ""),
        ("cachekit hit + cachekit-prometheus, disabled", _prometheus(False), "the event alone"),
        ("cachekit hit + cachekit-otel, tracing='spans'", _otel(ctx, "spans"), "SDK"),
        ("cachekit hit + cachekit-otel, tracing='events'", _otel(ctx, "events"), "no span current"),
        ("cachekit hit + cachekit-otel, tracing='off'", _otel(ctx, "off"), "metrics only"),
        ("cachekit hit + cachekit-otel, no SDK", _otel_api_only, "the API's no-op providers"),
    ]
    for index, (name, make_observer, note) in enumerate(rows):

        def make(make_observer: Callable[[], Any] | None = make_observer) -> Op:
            observer = None if make_observer is None else make_observer()
            return _hit_with(ctx, observer, kwargs)

        ctx.add(name, make, floor=index == 0, expect=RESPONSE, note=note)


WORKLOADS = [Workload("LLM call hit with observers, async, 1 KB messages", build=build)]
