"""Fixtures: the real ``openai`` SDK against ``cachekit.testing.OpenAIServer`` (the
shared fixtures ``openai_server`` and ``async_openai_client``), a
hermetic plugin manager, and OpenTelemetry SDK providers with in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator

import pluggy
import pytest
from cachekit import build_plugin_manager
from cachekit.testing import async_openai_client, openai_server, openai_server_session
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._support import Telemetry

__all__ = ["async_openai_client", "openai_server", "openai_server_session"]  # fixtures


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the OpenAI SDK is asyncio only


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """The built-in plugins only: the test registers the observer it means."""
    return build_plugin_manager(autoload=False)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(meter_provider, tracer_provider, reader, spans)
    meter_provider.shutdown()
    tracer_provider.shutdown()
