"""The plugin as a user meets it: the observer contract (entry point, lazy import,
off switch, fail-open), and the installed observer steered by its methods."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cachekit import Cache, CacheEvent, build_plugin_manager
from cachekit.testing import ObserverPluginContract
from cachekit_prometheus import DISABLE_ENV, PrometheusObserver, observer
from prometheus_client import CollectorRegistry, Counter

KV = {"call_type": "kv", "model": "", "backend": "local", "namespace": "n"}


class TestContract(ObserverPluginContract):
    entry_point, distribution = "prometheus", "cachekit-prometheus"
    client_modules, disable_env = ("prometheus_client",), DISABLE_ENV

    @pytest.fixture
    def broken_observer(self, registry: CollectorRegistry) -> PrometheusObserver:
        Counter("cachekit_hits", "someone else's metric of the same name", registry=registry)
        return PrometheusObserver(registry)


@pytest.fixture
def restore_installed() -> Iterator[None]:
    yield
    observer.configure()  # back to prometheus_client.REGISTRY
    observer.enabled = not os.environ.get(DISABLE_ENV)


@pytest.mark.anyio
@pytest.mark.usefixtures("restore_installed")
async def test_configure_disable_and_enable_steer_the_installed_observer(
    registry: CollectorRegistry,
) -> None:
    assert observer.configure(registry) is observer
    pm = build_plugin_manager(autoload=True)  # as every Cache() without plugins= gets
    async with Cache(type="local", plugins=pm, namespace="n") as cache:
        await cache.aset("k", 1)
        await cache.aget("k")
        observer.disable()
        await cache.aget("k")
        observer.enable()
        await cache.aget("missing")
    assert registry.get_sample_value("cachekit_hits_total", KV) == 1
    assert registry.get_sample_value("cachekit_stores_total", KV) == 1
    assert registry.get_sample_value("cachekit_misses_total", KV) == 1

    other = CollectorRegistry()
    observer.configure(other)  # moves the metrics: the old registry no longer has them
    assert registry.get_sample_value("cachekit_hits_total", KV) is None
    async with Cache(type="local", plugins=pm, namespace="n") as cache:
        await cache.aget("missing")
    assert other.get_sample_value("cachekit_misses_total", KV) == 1
    with pytest.raises(ValueError, match="label limit"):
        observer.configure(other, max_models=-1)
    assert observer.registry is other  # a bad setting changed nothing


def test_a_clash_is_fixed_by_configuring_another_registry(
    registry: CollectorRegistry,
) -> None:
    Counter("cachekit_misses", "someone else's metric of the same name", registry=registry)
    broken = PrometheusObserver(registry)
    broken.cachekit_on_miss(CacheEvent("miss", "kv", "cachekit:v2:n:k", "n", "local", 0.001))
    # the failed attempt left nothing half-registered in the registry it clashed in
    assert registry.get_sample_value("cachekit_hits_total", KV) is None
    other = CollectorRegistry()
    broken.configure(other)
    broken.cachekit_on_miss(CacheEvent("miss", "kv", "cachekit:v2:n:k", "n", "local", 0.001))
    assert other.get_sample_value("cachekit_misses_total", KV) == 1


def test_an_event_that_says_it_is_stale_is_counted_as_a_stale_hit(
    registry: CollectorRegistry,
) -> None:
    observer = PrometheusObserver(registry)
    event = CacheEvent(
        "hit", "completion", "cachekit:v2:n:abc", "n", "redis", 0.001, model="m",
        stale="while-revalidate",
    )  # fmt: skip
    observer.cachekit_on_hit(event)
    series = {"call_type": "completion", "model": "m", "backend": "redis", "namespace": "n"}
    assert registry.get_sample_value("cachekit_hits_total", series) == 1
    assert registry.get_sample_value("cachekit_stale_hits_total", series) == 1
    where = {k: v for k, v in series.items() if k != "model"}
    count = registry.get_sample_value(
        "cachekit_operation_seconds_count", {**where, "outcome": "stale_hit"}
    )
    assert count == 1


def test_negative_savings_from_a_foreign_entry_are_left_out(registry: CollectorRegistry) -> None:
    observer = PrometheusObserver(registry)
    event = CacheEvent(
        "hit", "completion", "cachekit:v2:n:abc", "n", "local", 0.001, model="m",
        tokens_saved=-2, prompt_tokens_saved=-3, completion_tokens_saved=1, cost_saved=-1.0,
    )  # fmt: skip
    observer.cachekit_on_hit(event)  # a counter raises on a negative increment
    series = {"call_type": "completion", "model": "m", "backend": "local", "namespace": "n"}
    assert registry.get_sample_value("cachekit_hits_total", series) == 1
    tokens = "cachekit_tokens_saved_total"
    assert registry.get_sample_value(tokens, {**series, "token_type": "prompt"}) is None
    assert registry.get_sample_value(tokens, {**series, "token_type": "completion"}) == 1
    assert registry.get_sample_value("cachekit_cost_saved_usd_total", series) is None
