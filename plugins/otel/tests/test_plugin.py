"""The plugin as a user meets it: the observer contract (entry point, lazy import,
off switch, fail-open), the global providers by default, and the installed observer
steered by its methods."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cachekit import Cache, CacheEvent, build_plugin_manager
from cachekit.testing import ObserverPluginContract
from cachekit_otel import DISABLE_ENV, OtelObserver
from cachekit_otel import observer as installed

from ._support import Telemetry, points

pytestmark = pytest.mark.anyio

#: Traffic with the SDK installed as the global providers, as an app does.
GLOBAL_PROVIDERS = """
import json
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

reader, spans = InMemoryMetricReader(), InMemorySpanExporter()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracer_provider)

import cachekit
cache = cachekit.Cache(type="local", namespace="n")
cache.get("k"); cache.set("k", 1); cache.get("k")
data = reader.get_metrics_data()
names = sorted(m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics)
print(json.dumps({"metrics": names, "spans": [s.name for s in spans.get_finished_spans()]}))
"""

KV = {"cachekit.call_type": "kv", "cachekit.backend": "local", "cachekit.namespace": "n"}


class TestContract(ObserverPluginContract):
    entry_point, distribution = "otel", "cachekit-otel"
    client_modules, disable_env = ("opentelemetry",), DISABLE_ENV

    @pytest.fixture
    def broken_observer(self, telemetry: Telemetry) -> OtelObserver:
        return OtelObserver(BrokenMeterProvider(), telemetry.tracer_provider)  # type: ignore[arg-type]


def test_the_installed_observer_uses_the_global_providers() -> None:
    done = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDERS],
        env={k: v for k, v in os.environ.items() if k != DISABLE_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert {"cachekit.hits", "cachekit.misses", "cachekit.stores"} <= set(seen["metrics"])
    assert "cachekit.operation.duration" in seen["metrics"]
    assert seen["spans"] == ["cachekit.lookup", "cachekit.lookup"]  # the miss, the hit


@pytest.fixture
def restore_installed() -> Iterator[None]:
    yield
    installed.configure()  # back to the global providers
    installed.enabled = not os.environ.get(DISABLE_ENV)


@pytest.mark.usefixtures("restore_installed")
async def test_configure_disable_and_enable_steer_the_installed_observer(
    telemetry: Telemetry,
) -> None:
    observer = installed.configure(
        telemetry.meter_provider, telemetry.tracer_provider, tracing="off"
    )
    assert observer is installed
    pm = build_plugin_manager(autoload=True)  # as every Cache() without plugins= gets
    async with Cache(type="local", plugins=pm, namespace="n") as cache:
        await cache.aset("k", 1)
        await cache.aget("k")
        installed.disable()
        await cache.aget("k")
        installed.enable()
        await cache.aget("missing")
    found = points(telemetry.reader)
    counts = {name: [p.value for a, p, _ in found[name] if a == KV] for name in found}
    assert counts["cachekit.hits"] == [1]
    assert counts["cachekit.stores"] == [1]
    assert counts["cachekit.misses"] == [1]
    assert telemetry.spans.get_finished_spans() == ()
    with pytest.raises(ValueError, match="tracing"):
        installed.configure(tracing="loud")
    assert installed.tracing == "off"  # a bad setting changed nothing


class BrokenMeterProvider:
    """A provider whose meter cannot be had (beside the real-SDK tests above)."""

    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no meter today")


def test_an_event_that_says_it_is_stale_is_counted_as_a_stale_hit(telemetry: Telemetry) -> None:
    observer = OtelObserver(telemetry.meter_provider, telemetry.tracer_provider)
    observer.cachekit_on_hit(
        CacheEvent(
            "hit",
            "completion",
            "cachekit:v2:n:abc",
            "n",
            "redis",
            0.001,
            stale="while-revalidate",
        )
    )
    found = points(telemetry.reader)
    assert [p.value for _, p, _ in found["cachekit.stale_hits"]] == [1]
    assert [p.value for _, p, _ in found["cachekit.hits"]] == [1]
    (duration,) = found["cachekit.operation.duration"]
    assert duration[0]["cachekit.outcome"] == "stale_hit"
    (span,) = telemetry.spans.get_finished_spans()
    assert span.attributes is not None and span.attributes["cachekit.stale"] is True
