"""The observer class. Importing it imports no ``prometheus_client``: the metrics are
created in the chosen registry when the first cache event arrives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachekit import MetricsObserver

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from cachekit_prometheus._metrics import PrometheusMetrics

__all__ = ["DISABLE_ENV", "PrometheusObserver"]

#: Set (to anything non-empty) to keep the installed observer from recording.
DISABLE_ENV = "CACHEKIT_PROMETHEUS_DISABLED"


class PrometheusObserver(MetricsObserver["PrometheusMetrics"]):
    """Records cache events as Prometheus metrics in ``registry``.

    ``registry`` defaults to ``prometheus_client.REGISTRY`` (what
    ``start_http_server`` and ``generate_latest`` serve). ``max_models`` and
    ``max_namespaces`` bound the label values (see the README's cardinality notes).
    """

    name = "cachekit-prometheus"
    disable_env = DISABLE_ENV

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        max_models: int = 50,
        max_namespaces: int = 50,
    ) -> None:
        super().__init__(max_models=max_models, max_namespaces=max_namespaces)
        self.registry = registry

    def build(self) -> PrometheusMetrics:
        from cachekit_prometheus._metrics import PrometheusMetrics

        return PrometheusMetrics(self.registry, self.max_models, self.max_namespaces)
