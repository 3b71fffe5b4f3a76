"""Real traffic (the ``openai`` SDK against a loopback server, through a ``local``
cache) seen by OpenTelemetry's SDK: metrics in an in-memory reader, spans in an
in-memory exporter, with the GenAI semantic conventions' attribute names."""

from __future__ import annotations

from typing import Any

import openai
import pluggy
import pytest
from cachekit import Cache
from cachekit.testing import OPENAI_TEST_KEY, OpenAIServer
from cachekit_otel import OtelObserver

from ._support import Telemetry, points

pytestmark = pytest.mark.anyio

PROMPT = "What is the weather in Paris today?"
CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}  # dollars per million tokens
SERIES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "cachekit.call_type": "completion",
    "cachekit.backend": "local",
    "cachekit.namespace": "team-a",
}


def observer_for(telemetry: Telemetry, **options: Any) -> OtelObserver:
    return OtelObserver(telemetry.meter_provider, telemetry.tracer_provider, **options)


def one(found: list[tuple[dict[str, Any], Any, str]], **attributes: Any) -> tuple[Any, str]:
    matching = [(p, unit) for a, p, unit in found if a == attributes]
    assert len(matching) == 1, (attributes, [a for a, _, _ in found])
    return matching[0]


async def test_metrics_and_spans_carry_genai_attributes(
    pm: pluggy.PluginManager,
    telemetry: Telemetry,
    async_openai_client: openai.AsyncOpenAI,
    openai_server: OpenAIServer,
) -> None:
    pm.register(observer_for(telemetry))
    tracer = telemetry.tracer_provider.get_tracer("app")
    async with Cache(type="local", plugins=pm, namespace="team-a", pricing=PRICES) as cache:
        create = cache.cached("acompletion")(async_openai_client.chat.completions.create)
        with tracer.start_as_current_span("handle request") as app:
            miss = await create(**CHAT)
            hit = await create(**CHAT)
        key = cache.get_cache_key(**CHAT)
    assert hit == miss and openai_server.count("/chat/completions") == 1
    usage = miss.usage
    assert usage is not None

    found = points(telemetry.reader)
    assert one(found["cachekit.hits"], **SERIES)[0].value == 1
    assert one(found["cachekit.misses"], **SERIES)[0].value == 1
    assert one(found["cachekit.stores"], **SERIES)[0].value == 1
    tokens = found["cachekit.tokens_saved"]
    assert one(tokens, **SERIES, **{"gen_ai.token.type": "input"})[0].value == usage.prompt_tokens
    output = one(tokens, **SERIES, **{"gen_ai.token.type": "output"})[0]
    assert output.value == usage.completion_tokens
    cost, unit = one(found["cachekit.cost_saved"], **SERIES)
    assert (cost.value, unit) == (
        pytest.approx(0.15e-6 * usage.prompt_tokens + 0.6e-6 * usage.completion_tokens),
        "USD",
    )
    saved, unit = one(found["cachekit.latency_saved"], **SERIES)
    assert unit == "s" and saved.value > 0  # a sum of seconds saved
    where = {k: v for k, v in SERIES.items() if k != "gen_ai.request.model"}
    for outcome in ("hit", "miss", "store"):
        duration, unit = one(
            found["cachekit.operation.duration"], **where, **{"cachekit.outcome": outcome}
        )
        assert (duration.count, unit) == (1, "s")
    assert "cachekit.stale_hits" not in found and "cachekit.errors" not in found

    lookups = [s for s in telemetry.spans.get_finished_spans() if s.name == "cachekit.lookup"]
    assert [s.attributes["cachekit.hit"] for s in lookups if s.attributes] == [False, True]
    for span in lookups:
        assert span.parent is not None and span.parent.span_id == app.get_span_context().span_id
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.end_time
    hit_span = dict(lookups[1].attributes or {})
    assert hit_span["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert hit_span["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert hit_span["gen_ai.request.model"] == "gpt-4o-mini"
    assert hit_span["gen_ai.operation.name"] == "chat"
    assert hit_span["cachekit.stale"] is False
    assert hit_span["cachekit.latency_saved"] == pytest.approx(saved.value)
    assert "gen_ai.system" not in hit_span  # a bare model name does not say its provider
    (store_event,) = [e for e in app_events(telemetry) if e.name == "cachekit.store"]
    assert store_event.attributes is not None

    values = [str(v) for s in lookups for v in (s.attributes or {}).values()]
    values += [str(a) for found_points in found.values() for a, _, _ in found_points]
    digest = key.rsplit(":", 1)[-1]
    for forbidden in ("Paris", "weather", digest, OPENAI_TEST_KEY):
        assert not [v for v in values if forbidden in v], forbidden


def app_events(telemetry: Telemetry) -> list[Any]:
    (app,) = [s for s in telemetry.spans.get_finished_spans() if s.name == "handle request"]
    return list(app.events)


async def test_tracing_events_puts_lookups_on_the_current_span(
    pm: pluggy.PluginManager, telemetry: Telemetry, async_openai_client: openai.AsyncOpenAI
) -> None:
    pm.register(observer_for(telemetry, tracing="events"))
    tracer = telemetry.tracer_provider.get_tracer("app")
    async with Cache(type="local", plugins=pm, namespace="team-a") as cache:
        create = cache.cached("aembedding")(async_openai_client.embeddings.create)
        with tracer.start_as_current_span("handle request"):
            await create(model="openai/text-embedding-3-small", input="hello")
            await create(model="openai/text-embedding-3-small", input="hello")
    names = [s.name for s in telemetry.spans.get_finished_spans()]
    assert names == ["handle request"]  # no span of cachekit's own
    events = {e.name: dict(e.attributes or {}) for e in app_events(telemetry)}
    assert set(events) == {"cachekit.miss", "cachekit.store", "cachekit.hit"}
    hit = events["cachekit.hit"]
    assert hit["gen_ai.operation.name"] == "embeddings"
    assert hit["gen_ai.provider.name"] == hit["gen_ai.system"] == "openai"
    assert hit["gen_ai.usage.input_tokens"] > 0 and hit["cachekit.hit"] is True


async def test_the_model_attribute_is_bounded(
    pm: pluggy.PluginManager, telemetry: Telemetry, async_openai_client: openai.AsyncOpenAI
) -> None:
    pm.register(observer_for(telemetry, max_models=1, tracing="off"))
    async with Cache(type="local", plugins=pm, namespace="n") as cache:
        create = cache.cached("acompletion")(async_openai_client.chat.completions.create)
        for model in ("model-a", "model-b", "model-c"):
            await create(**{**CHAT, "model": model})
    misses = points(telemetry.reader)["cachekit.misses"]
    by_model = {a["gen_ai.request.model"]: p.value for a, p, _ in misses}
    assert by_model == {"model-a": 1, "other": 2}
    assert telemetry.spans.get_finished_spans() == ()
