"""Chat and legacy completions through a wrapped client, sync and async, stream and
not, structured outputs, per-call controls; on every backend. Hits are counted at
the server."""

from __future__ import annotations

import cachekit
import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion

from ._support import CHAT, Weather, same

pytestmark = pytest.mark.anyio


async def test_async_chat_create_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    first = await wrapped.chat.completions.create(**CHAT)
    again = await wrapped.chat.completions.create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert type(first) is ChatCompletion and same(again, first)
    info = cachekit.cache_info(again)
    assert info is not None and info.hit is True
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.errors) == (1, 1, 0)


def test_sync_chat_create_is_cached(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    first = wrapped.chat.completions.create(**CHAT)
    again = wrapped.chat.completions.create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert type(first) is ChatCompletion and same(again, first)
    assert cache.stats().errors == 0


async def test_different_requests_are_different_entries(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    first = await wrapped.chat.completions.create(**CHAT)
    warmer = await wrapped.chat.completions.create(**CHAT, temperature=1.5)
    assert openai_server.count("/chat/completions") == 2
    assert warmer.id != first.id
    assert cache.stats().errors == 0


async def test_async_chat_stream_is_recorded_then_replayed(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    request = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with await wrapped.chat.completions.create(**request) as stream:
        assert stream.response.status_code == 200  # the SDK stream's own attribute, on a miss
        first = [chunk async for chunk in stream]
    replay = await wrapped.chat.completions.create(**request)
    again = [chunk async for chunk in replay]
    assert openai_server.count("/chat/completions") == 1
    assert again == first and all(type(c) is ChatCompletionChunk for c in again)
    assert first[-1].usage is not None and again[-1].usage == first[-1].usage
    info = cachekit.cache_info(replay)
    assert info is not None and info.hit is True
    # The stream and the whole answer are separate entries.
    whole = await wrapped.chat.completions.create(**CHAT)
    assert type(whole) is ChatCompletion and openai_server.count("/chat/completions") == 2
    assert cache.stats().errors == 0


def test_sync_chat_stream_is_recorded_then_replayed(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    with wrapped.chat.completions.create(**CHAT, stream=True) as stream:
        first = list(stream)
    with wrapped.chat.completions.create(**CHAT, stream=True) as replay:
        again = list(replay)
    assert openai_server.count("/chat/completions") == 1
    assert again == first and all(type(c) is ChatCompletionChunk for c in again)
    text = "".join(c.choices[0].delta.content or "" for c in again if c.choices)
    assert text == "".join(c.choices[0].delta.content or "" for c in first if c.choices)
    assert cache.stats().errors == 0


async def test_a_stream_closed_early_is_not_stored(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    stream = await wrapped.chat.completions.create(**CHAT, stream=True)
    async for _ in stream:
        break
    await stream.close()
    complete = await wrapped.chat.completions.create(**CHAT, stream=True)
    _ = [chunk async for chunk in complete]
    assert openai_server.count("/chat/completions") == 2  # nothing was stored the first time
    assert cache.stats().errors == 0


async def test_async_parse_rebuilds_the_parsed_model_on_a_hit(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    first = await wrapped.chat.completions.parse(**CHAT, response_format=Weather)
    again = await wrapped.chat.completions.parse(**CHAT, response_format=Weather)
    assert openai_server.count("/chat/completions") == 1
    assert isinstance(again, ParsedChatCompletion) and type(again) is type(first)
    parsed = again.choices[0].message.parsed
    assert isinstance(parsed, Weather) and parsed == first.choices[0].message.parsed
    assert same(again, first)
    assert cache.stats().errors == 0


def test_sync_parse_is_cached_and_kept_apart_from_create(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "Weather", "schema": Weather.model_json_schema()},
    }
    created = wrapped.chat.completions.create(**CHAT, response_format=schema)
    parsed = wrapped.chat.completions.parse(**CHAT, response_format=schema)
    # The same HTTP request, but parse answers a ParsedChatCompletion: its own entry.
    assert openai_server.count("/chat/completions") == 2
    assert type(created) is ChatCompletion and isinstance(parsed, ParsedChatCompletion)
    assert same(wrapped.chat.completions.parse(**CHAT, response_format=schema), parsed)
    assert same(wrapped.chat.completions.create(**CHAT, response_format=schema), created)
    assert openai_server.count("/chat/completions") == 2
    assert cache.stats().errors == 0


async def test_structured_outputs_with_different_schemas_are_different_entries(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    class Forecast(Weather):
        tomorrow: str

    wrapped = wrap(aclient, cache)
    weather = await wrapped.chat.completions.parse(**CHAT, response_format=Weather)
    forecast = await wrapped.chat.completions.parse(**CHAT, response_format=Forecast)
    assert openai_server.count("/chat/completions") == 2
    assert isinstance(forecast.choices[0].message.parsed, Forecast)
    assert not isinstance(weather.choices[0].message.parsed, Forecast)
    assert cache.stats().errors == 0


async def test_legacy_completions_are_cached_async_and_streaming(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    request = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test"}
    first = await wrapped.completions.create(**request)
    again = await wrapped.completions.create(**request)
    assert type(first) is Completion and same(again, first)
    streamed = [c async for c in await wrapped.completions.create(**request, stream=True)]
    replayed = [c async for c in await wrapped.completions.create(**request, stream=True)]
    assert replayed == streamed and all(type(c) is Completion for c in replayed)
    assert openai_server.count("/completions") == 2  # one whole answer, one stream
    assert cache.stats().errors == 0


def test_legacy_completions_are_cached_sync(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    request = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test"}
    first = wrapped.completions.create(**request)
    assert same(wrapped.completions.create(**request), first)
    assert openai_server.count("/completions") == 1
    assert cache.stats().errors == 0


# -- per-call controls -----------------------------------------------------------------
async def test_per_call_controls_are_honoured_and_never_reach_the_sdk(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    create = wrapped.chat.completions.create
    unstored = await create(**CHAT, cache={"no-store": True})
    stored = await create(**CHAT)  # no-store stored nothing: a miss
    assert stored.id != unstored.id
    refreshed = await create(**CHAT, cache={"no-cache": True})  # skips the read, stores
    assert refreshed.id != stored.id
    hit = await create(**CHAT)
    assert hit.id == refreshed.id
    elsewhere = await create(**CHAT, cache={"namespace": "other-team"})
    assert elsewhere.id != hit.id
    assert openai_server.count("/chat/completions") == 4
    # The SDK rejects unknown keyword arguments: nothing of "cache" reached the request.
    assert all("cache" not in (r.json or {}) for r in openai_server.requests)
    assert cache.stats().errors == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.chat.completions.create(**CHAT, cache={"ttl": -1}),
        lambda w: w.chat.completions.parse(**CHAT, response_format=Weather, cache={"bogus": 1}),
        lambda w: w.embeddings.create(model="e", input="x", cache={"no-cache": "yes"}),
        lambda w: w.responses.create(model="m", input="x", cache={"ttl": "soon"}),
    ],
)
async def test_bad_controls_are_a_value_error_before_any_request(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer, call: object
) -> None:
    wrapped = wrap(aclient, cache)
    with pytest.raises(ValueError, match=r"cache|ttl|control"):
        await call(wrapped)  # type: ignore[operator]
    assert openai_server.count() == 0


def test_per_call_controls_work_on_a_sync_stream(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    first = list(wrapped.chat.completions.create(**CHAT, stream=True, cache={"no-store": True}))
    second = list(wrapped.chat.completions.create(**CHAT, stream=True))
    third = list(wrapped.chat.completions.create(**CHAT, stream=True))
    assert openai_server.count("/chat/completions") == 2
    assert second == third and second != first
    assert cache.stats().errors == 0
