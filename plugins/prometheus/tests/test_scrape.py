"""Real traffic (the ``openai`` SDK against a loopback server, through a ``local``
cache) scraped over HTTP from ``prometheus_client``'s own exporter."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import openai
import pluggy
import pytest
from cachekit import Cache
from cachekit.testing import HOST, OPENAI_TEST_KEY, OpenAIServer, free_port
from cachekit_prometheus import PrometheusObserver
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

pytestmark = pytest.mark.anyio

PROMPT = "What is the weather in Paris today?"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}  # dollars per million tokens


@contextmanager
def exporter(registry: CollectorRegistry) -> Iterator[str]:
    """``prometheus_client.start_http_server`` on a free loopback port; yields its URL."""
    port = free_port()
    server, thread = start_http_server(port, addr=HOST, registry=registry)
    try:
        yield f"http://{HOST}:{port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def scrape(url: str) -> list[Sample]:
    def fetch() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    text = await anyio.to_thread.run_sync(fetch)
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


async def test_a_scrape_shows_hits_misses_and_what_the_hit_saved(
    pm: pluggy.PluginManager,
    registry: CollectorRegistry,
    async_openai_client: openai.AsyncOpenAI,
    openai_server: OpenAIServer,
) -> None:
    pm.register(PrometheusObserver(registry))
    async with Cache(type="local", plugins=pm, namespace="team-a", pricing=PRICES) as cache:
        create = cache.cached("acompletion")(async_openai_client.chat.completions.create)
        miss = await create(**CHAT)
        hit = await create(**CHAT)
        key = cache.get_cache_key(**CHAT)
    assert hit == miss
    assert openai_server.count("/chat/completions") == 1
    usage = miss.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0

    with exporter(registry) as url:
        samples = await scrape(url)

    series = {"call_type": "completion", "model": "gpt-4o-mini"}
    series |= {"backend": "local", "namespace": "team-a"}
    assert value(samples, "cachekit_hits_total", **series) == 1
    assert value(samples, "cachekit_misses_total", **series) == 1
    assert value(samples, "cachekit_stores_total", **series) == 1
    tokens = "cachekit_tokens_saved_total"
    assert value(samples, tokens, **series, token_type="prompt") == usage.prompt_tokens
    assert value(samples, tokens, **series, token_type="completion") == usage.completion_tokens
    expected_cost = (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.60) / 1e6
    assert value(samples, "cachekit_cost_saved_usd_total", **series) == pytest.approx(expected_cost)
    saved = "cachekit_provider_latency_saved_seconds"
    assert value(samples, saved + "_count", **series) == 1
    assert value(samples, saved + "_sum", **series) > 0
    assert not [s for s in samples if s.name == "cachekit_stale_hits_total" and s.value]
    operation = "cachekit_operation_seconds_count"
    where = {"call_type": "completion", "backend": "local", "namespace": "team-a"}
    for outcome in ("hit", "miss", "store"):
        assert value(samples, operation, **where, outcome=outcome) == 1

    labels = {v for s in samples if s.name.startswith("cachekit_") for v in s.labels.values()}
    assert labels >= {"completion", "gpt-4o-mini", "local", "team-a", "prompt"}
    digest = key.rsplit(":", 1)[-1]
    for forbidden in (PROMPT, "Paris", "weather", digest, OPENAI_TEST_KEY):
        assert not [v for v in labels if forbidden in v], forbidden


async def test_the_model_label_is_bounded(
    pm: pluggy.PluginManager, registry: CollectorRegistry, async_openai_client: openai.AsyncOpenAI
) -> None:
    pm.register(PrometheusObserver(registry, max_models=2))
    async with Cache(type="local", plugins=pm, namespace="n") as cache:
        create = cache.cached("acompletion")(async_openai_client.chat.completions.create)
        for model in ("model-a", "model-b", "model-c", "model-d", "model-a"):
            await create(**{**CHAT, "model": model})
    series = {"call_type": "completion", "backend": "local", "namespace": "n"}

    def misses(model: str) -> float | None:
        return registry.get_sample_value("cachekit_misses_total", {**series, "model": model})

    assert (misses("model-a"), misses("model-b"), misses("other")) == (1, 1, 2)
    assert misses("model-c") is None and misses("model-d") is None
    assert registry.get_sample_value("cachekit_hits_total", {**series, "model": "model-a"}) == 1


async def test_a_corrupt_entry_is_counted_as_an_error_by_kind(
    pm: pluggy.PluginManager, registry: CollectorRegistry, async_openai_client: openai.AsyncOpenAI
) -> None:
    pm.register(PrometheusObserver(registry))
    async with Cache(type="local", plugins=pm, namespace="n") as cache:
        create = cache.cached("acompletion")(async_openai_client.chat.completions.create)
        await cache.backend.set(cache.get_cache_key(**CHAT), b"\x00 not an entry", None)
        result = await create(**CHAT)  # the garbage is a miss; the call goes through
    assert result.choices[0].message.content
    series = {"call_type": "completion", "backend": "local", "namespace": "n"}
    # an error event carries no model (the engine reports it below the LLM layer)
    errors = {**series, "model": "", "error": "EntryError"}
    assert registry.get_sample_value("cachekit_errors_total", errors) == 1
    misses = {**series, "model": "gpt-4o-mini"}
    assert registry.get_sample_value("cachekit_misses_total", misses) == 1


def test_sync_calls_are_counted_too(
    pm: pluggy.PluginManager, registry: CollectorRegistry, openai_server: OpenAIServer
) -> None:
    pm.register(PrometheusObserver(registry))
    with openai.OpenAI(
        base_url=openai_server.base_url, api_key=OPENAI_TEST_KEY, max_retries=0
    ) as client:
        cache = Cache(type="local", plugins=pm, namespace="sync")
        create = cache.cached("completion")(client.chat.completions.create)
        assert create(**CHAT) == create(**CHAT)
        cache.close()
    series = {"call_type": "completion", "model": "gpt-4o-mini", "backend": "local"}
    series |= {"namespace": "sync"}
    assert registry.get_sample_value("cachekit_hits_total", series) == 1
    assert registry.get_sample_value("cachekit_misses_total", series) == 1
    assert openai_server.count("/chat/completions") == 1
