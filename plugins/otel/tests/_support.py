"""The in-memory telemetry of a test, and reading what its metric reader collected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Telemetry", "points"]


@dataclass
class Telemetry:
    """SDK providers whose metrics and finished spans stay in memory."""

    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    reader: InMemoryMetricReader
    spans: InMemorySpanExporter


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any, str]]]:
    """Metric name → ``(attributes, point, unit)`` for every data point collected."""
    data = reader.get_metrics_data()
    found: dict[str, list[tuple[dict[str, Any], Any, str]]] = {}
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found.setdefault(metric.name, []).append(
                        (dict(point.attributes or {}), point, metric.unit or "")
                    )
    return found
