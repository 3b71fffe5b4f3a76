"""LiteLLM's call functions wrapped as they are (issue 11, items 4, 6, 8): completion,
acompletion, streams, embedding, aembedding, transcription, structured outputs.

A hit is a LiteLLM object of the same type as the miss with the same data and the
same attributes (``logprobs`` included), nested items of the same types, and
``_hidden_params["cache_hit"] is True`` as LiteLLM's own cache sets it. Provider
calls are counted by a LiteLLM ``CustomLogger`` (its pre-call hook runs once per call
LiteLLM makes, mocked or not) or, for LiteLLM's OpenAI provider, at the server.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("litellm", reason="LiteLLM is not installed (e.g. an openai 1.x job)")

import litellm
import openai
from cachekit import Cache
from cachekit.testing import OpenAIServer

from ._litellm import LiteLLMCalls
from ._sdk import CHAT, Weather, assert_same_result

pytestmark = pytest.mark.anyio

REPLY = "The weather in Paris is mild and sunny today."
AUDIO = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256))


def assert_litellm_hit(hit: Any, miss: Any) -> None:
    assert_same_result(hit, miss)
    assert hit._hidden_params.get("cache_hit") is True
    assert miss._hidden_params.get("cache_hit") is not True


def assert_litellm_items_hit(hit: Any, miss: Any) -> None:
    """A list ``input`` answered entirely from per-item entries: the same response with
    the same items, except ``usage``, which says what the provider billed: nothing."""
    assert type(hit) is type(miss)
    assert_same_result(hit.data, miss.data)
    assert (hit.model, hit.object) == (miss.model, miss.object)
    assert hit.usage.prompt_tokens == hit.usage.total_tokens == 0
    assert hit._hidden_params.get("cache_hit") is True


def test_a_completion_hit_is_the_same_model_response(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    completion = cache.cached("completion")(litellm.completion)
    miss = completion(**CHAT, mock_response=REPLY)
    hit = completion(**CHAT, mock_response=REPLY)
    assert litellm_calls.calls == 1
    assert type(hit) is litellm.ModelResponse and hit.id == miss.id
    assert_litellm_hit(hit, miss)
    assert cache.stats().errors == 0


async def test_an_acompletion_hit_is_the_same_model_response(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    acompletion = cache.cached("acompletion")(litellm.acompletion)
    miss = await acompletion(**CHAT, mock_response=REPLY)
    hit = await acompletion(**CHAT, mock_response=REPLY)
    assert litellm_calls.calls == 1
    assert type(hit) is litellm.ModelResponse and hit.id == miss.id
    assert_litellm_hit(hit, miss)
    assert cache.stats().errors == 0


async def test_a_hit_keeps_none_valued_attributes_such_as_logprobs(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    acompletion = cache.cached("acompletion")(litellm.acompletion)
    request = {**CHAT, "model": "openai/gpt-4o-mini", "client": aclient}
    miss = await acompletion(**request)
    hit = await acompletion(**request)
    assert openai_server.count("/chat/completions") == 1
    assert miss.choices[0].logprobs is None
    assert hit.choices[0].logprobs is None  # an attribute, as on the miss
    assert_litellm_hit(hit, miss)
    assert cache.stats().errors == 0


def _finishes(chunks: list[Any]) -> list[str | None]:
    return [c.choices[0].finish_reason for c in chunks]


def test_a_completion_stream_is_replayed_with_litellms_chunk_types(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    completion = cache.cached("completion")(litellm.completion)
    miss = list(completion(**CHAT, mock_response=REPLY, stream=True))
    hit = list(completion(**CHAT, mock_response=REPLY, stream=True))
    assert litellm_calls.calls == 1
    assert [type(c) for c in hit] == [type(c) for c in miss]
    assert all(type(c.choices[0].delta) is litellm.types.utils.Delta for c in hit)
    assert _finishes(hit) == _finishes(miss) == [None] * (len(miss) - 1) + ["stop"]
    assert "".join(c.choices[0].delta.content or "" for c in hit) == REPLY
    assert [c.model_dump() for c in hit] == [c.model_dump() for c in miss]
    assert cache.stats().errors == 0


async def test_an_acompletion_stream_is_replayed_with_litellms_chunk_types(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    acompletion = cache.cached("acompletion")(litellm.acompletion)
    miss = [c async for c in await acompletion(**CHAT, mock_response=REPLY, stream=True)]
    hit = [c async for c in await acompletion(**CHAT, mock_response=REPLY, stream=True)]
    assert litellm_calls.calls == 1
    assert [type(c) for c in hit] == [type(c) for c in miss]
    assert [type(c.choices[0].delta) for c in hit] == [type(c.choices[0].delta) for c in miss]
    assert _finishes(hit) == _finishes(miss)
    assert [c.model_dump() for c in hit] == [c.model_dump() for c in miss]
    assert cache.stats().errors == 0


async def test_one_litellm_wrapper_serves_streamed_and_whole_requests(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    acompletion = cache.cached("acompletion")(litellm.acompletion)
    whole = await acompletion(**CHAT, mock_response=REPLY)
    chunks = [c async for c in await acompletion(**CHAT, mock_response=REPLY, stream=True)]
    whole_hit = await acompletion(**CHAT, mock_response=REPLY)
    chunk_hits = [c async for c in await acompletion(**CHAT, mock_response=REPLY, stream=True)]
    assert litellm_calls.calls == 2
    assert_litellm_hit(whole_hit, whole)
    assert [c.model_dump() for c in chunk_hits] == [c.model_dump() for c in chunks]
    assert cache.stats().errors == 0


def test_an_embedding_hit_keeps_its_items_as_objects(cache: Cache) -> None:
    # LiteLLM's mocked embeddings skip its callbacks: the hit shows in the stats and
    # in _hidden_params (the partial-hit test below counts requests at a server).
    embedding = cache.cached("embedding")(litellm.embedding)
    miss = embedding(model="text-embedding-3-small", input=["red"], mock_response=[0.5, 0.25])
    hit = embedding(model="text-embedding-3-small", input=["red"], mock_response=[0.5, 0.25])
    assert (cache.stats().hits, cache.stats().misses) == (1, 1)
    assert type(hit.data[0]) is type(miss.data[0]) is litellm.types.utils.Embedding
    assert_litellm_items_hit(hit, miss)
    assert cache.stats().errors == 0


async def test_an_aembedding_hit_is_the_same_embedding_response(cache: Cache) -> None:
    aembedding = cache.cached("aembedding")(litellm.aembedding)
    miss = await aembedding(model="text-embedding-3-small", input="red", mock_response=[0.5])
    hit = await aembedding(model="text-embedding-3-small", input="red", mock_response=[0.5])
    assert (cache.stats().hits, cache.stats().misses) == (1, 1)
    assert type(hit) is litellm.EmbeddingResponse
    assert_litellm_hit(hit, miss)
    assert cache.stats().errors == 0


def test_an_embedding_through_litellms_openai_provider_is_cached(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    embedding = cache.cached("embedding")(litellm.embedding)
    request = {"model": "openai/text-embedding-3-small", "client": client, "input": ["red"]}
    miss = embedding(**request)
    hit = embedding(**request)
    assert openai_server.count("/embeddings") == 1
    assert_litellm_items_hit(hit, miss)
    assert cache.stats().errors == 0


async def test_an_aembedding_partial_hit_asks_the_provider_once_for_the_missing_items(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    aembedding = cache.cached("aembedding")(litellm.aembedding)
    request = {"model": "openai/text-embedding-3-small", "client": aclient}
    await aembedding(**request, input=["red", "green"])
    openai_server.reset()
    merged = await aembedding(**request, input=["green", "blue", "red"])
    assert openai_server.count("/embeddings") == 1
    assert openai_server.requests[0].json["input"] == ["blue"]
    direct = await litellm.aembedding(**request, input=["green", "blue", "red"])
    assert type(merged) is type(direct)
    assert_same_result(merged.data, direct.data)
    assert cache.stats().errors == 0


async def test_an_atranscription_is_keyed_by_the_audio_content(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    atranscription = cache.cached("atranscription")(litellm.atranscription)
    miss = await atranscription(model="openai/whisper-1", file=("a.wav", AUDIO), client=aclient)
    hit = await atranscription(model="openai/whisper-1", file=("b.wav", AUDIO), client=aclient)
    assert openai_server.count("/audio/transcriptions") == 1
    assert type(hit) is type(miss) and hit.text == miss.text
    assert_litellm_hit(hit, miss)
    assert cache.stats().errors == 0


async def test_a_pydantic_response_format_is_keyed_and_cached(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    acompletion = cache.cached("acompletion")(litellm.acompletion)
    answer = Weather(city="Paris", temperature=21.5, conditions=["sunny"]).model_dump_json()
    miss = await acompletion(**CHAT, response_format=Weather, mock_response=answer)
    hit = await acompletion(**CHAT, response_format=Weather, mock_response=answer)
    assert litellm_calls.calls == 1
    assert Weather.model_validate_json(hit.choices[0].message.content).city == "Paris"
    assert_litellm_hit(hit, miss)
    assert cache.stats().errors == 0
