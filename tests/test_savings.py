"""What a hit saves, with the real ``openai`` SDK against the loopback server: tokens
(from the stored response's usage: whole responses, the usage chunk of a stream, each
embedding item's share), the provider latency the miss measured, and the cost only
with a price list. On ``local``, ``redis`` and ``disk``."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from cachekit import CacheEvent, build_plugin_manager, hookimpl
from cachekit.testing import OpenAIServer

from ._sdk import CHAT, MakeCache

pytestmark = pytest.mark.anyio

PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}  # dollars per million tokens


class Hits:
    @hookimpl
    def cachekit_on_hit(self, event: CacheEvent) -> None:
        self.events.append(event)

    def __init__(self) -> None:
        self.events: list[CacheEvent] = []


async def test_a_chat_hit_saves_the_tokens_latency_and_cost_of_the_miss(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    pm = build_plugin_manager()
    hits = Hits()
    pm.register(hits)
    cache = make_cache(pricing=PRICES, plugins=pm)
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    miss = await create(**CHAT)
    await create(**CHAT)
    await create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    usage = miss.usage
    assert usage is not None
    stats = cache.stats()
    assert stats.tokens_saved == 2 * usage.total_tokens
    expected_cost = 2 * (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.60) / 1e6
    assert stats.cost_saved == pytest.approx(expected_cost)
    assert stats.latency_saved_s > 0
    model = stats.by_model["gpt-4o-mini"]
    assert (model["hits"], model["misses"], model["tokens_saved"]) == (2, 1, 2 * usage.total_tokens)
    assert model["hit_ratio"] == pytest.approx(2 / 3)
    assert stats.by_call_type["completion"]["hits"] == 2
    assert stats.by_namespace[cache.namespace]["misses"] == 1
    event = hits.events[0]
    assert (event.model, event.tokens_saved) == ("gpt-4o-mini", usage.total_tokens)
    assert (event.prompt_tokens_saved, event.completion_tokens_saved) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert event.cost_saved == pytest.approx(expected_cost / 2)
    assert event.latency_saved_s is not None and event.latency_saved_s > 0
    assert stats.errors == 0


async def test_without_a_price_list_the_cost_is_left_out(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI
) -> None:
    cache = make_cache()
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    await create(**CHAT)
    await create(**CHAT)
    stats = cache.stats()
    assert stats.tokens_saved > 0
    assert stats.cost_saved is None
    assert stats.by_model["gpt-4o-mini"]["cost_saved"] is None


async def test_a_stream_hit_saves_the_usage_of_its_final_chunk(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI
) -> None:
    cache = make_cache()
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    request: dict[str, Any] = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    chunks = [c async for c in await create(**request)]
    final = chunks[-1].usage
    assert final is not None
    async for _ in await create(**request):
        pass
    assert cache.stats().tokens_saved == final.total_tokens
    assert cache.stats().errors == 0


async def test_an_embedding_hit_saves_each_items_share(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI
) -> None:
    cache = make_cache()
    create = cache.cached("aembedding")(aclient.embeddings.create)
    first = await create(model="text-embedding-3-small", input=["red", "green", "blue", "gold"])
    await create(model="text-embedding-3-small", input=["blue", "red", "green", "gold"])
    assert cache.stats().tokens_saved == first.usage.total_tokens  # every item, once
    assert cache.stats().errors == 0


def test_stats_as_dict_carries_the_savings(make_cache: MakeCache, client: openai.OpenAI) -> None:
    cache = make_cache(pricing=lambda model, usage: 0.01)
    create = cache.cached("completion")(client.chat.completions.create)
    create(**CHAT)
    create(**CHAT)
    doc = cache.stats().as_dict()
    assert doc["cost_saved"] == pytest.approx(0.01)
    assert doc["by_model"]["gpt-4o-mini"]["hits"] == 1
    assert doc["tokens_saved"] > 0 and doc["latency_saved_s"] > 0


def test_a_bad_price_list_is_a_value_error(make_cache: MakeCache) -> None:
    with pytest.raises(ValueError, match="pricing"):
        make_cache(pricing={"gpt-4o-mini": {"input": -1}})
    with pytest.raises(ValueError, match="pricing"):
        make_cache(pricing=3)
