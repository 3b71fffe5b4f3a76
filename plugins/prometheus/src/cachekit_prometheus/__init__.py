"""cachekit-prometheus: Prometheus metrics for every cachekit cache in the process.

Installing the distribution is the whole set-up: its ``cachekit`` entry point
registers :data:`observer`, which records hits, misses, stores, errors, stale hits,
operation latency and what hits saved (tokens, provider latency, dollars) into
``prometheus_client.REGISTRY``. Serve them the usual way
(``prometheus_client.start_http_server(9464)``).

``observer.configure(registry=..., max_models=..., max_namespaces=...)`` chooses
another registry and the label bounds; ``observer.disable()`` / ``observer.enable()``,
or the environment variable ``CACHEKIT_PROMETHEUS_DISABLED=1``, turn it off and on.
:class:`PrometheusObserver` registers a separate observer on a plugin manager of
your own (``cache.plugins.register(...)``).

Importing this package does not import ``prometheus_client``; the first event does.
"""

from __future__ import annotations

from cachekit_prometheus._observer import DISABLE_ENV, PrometheusObserver

__all__ = ["DISABLE_ENV", "PrometheusObserver", "observer"]

__version__ = "0.1.0"

#: The instance the ``cachekit`` entry point registers on every plugin manager.
observer = PrometheusObserver()
