"""Streams through the ``openai`` SDK (issue 11, items 4 and 5): one wrapper serves
``stream=True`` and ``stream=False``; a replay is the original chunks (text, tool-call
deltas, usage chunk, ``finish_reason`` exactly where it was) of the SDK's chunk type;
the caller keeps the SDK stream's interface on a miss and on a hit; a stream
abandoned before its end is not stored."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ._sdk import CHAT, TOOLS, assert_same_result

pytestmark = pytest.mark.anyio

STREAM: dict[str, Any] = {**CHAT, "stream": True}
WITH_USAGE: dict[str, Any] = {**STREAM, "stream_options": {"include_usage": True}}


def finish_reasons(chunks: list[Any]) -> list[str | None]:
    return [c.choices[0].finish_reason if c.choices else None for c in chunks]


async def test_a_streamed_chat_completion_is_replayed_chunk_for_chunk(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    miss = [chunk async for chunk in await create(**WITH_USAGE)]
    hit = [chunk async for chunk in await create(**WITH_USAGE)]
    assert openai_server.count("/chat/completions") == 1
    assert hit == miss
    assert_same_result(hit, miss)
    assert all(type(chunk) is ChatCompletionChunk for chunk in hit)
    assert hit[0].choices[0].delta.role == "assistant"
    assert finish_reasons(hit) == finish_reasons(miss)
    assert [r for r in finish_reasons(hit) if r is not None] == ["stop"]
    assert hit[-1].choices == [] and hit[-1].usage == miss[-1].usage
    assert cache.stats().errors == 0


async def test_tool_call_deltas_are_replayed_as_they_arrived(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    miss = [chunk async for chunk in await create(**WITH_USAGE, tools=TOOLS)]
    hit = [chunk async for chunk in await create(**WITH_USAGE, tools=TOOLS)]
    assert openai_server.count("/chat/completions") == 1
    deltas = [
        c.choices[0].delta.tool_calls for c in hit if c.choices and c.choices[0].delta.tool_calls
    ]
    assert len(deltas) >= 3
    assert type(deltas[0][0]) is type(miss[1].choices[0].delta.tool_calls[0])  # type: ignore[index]
    assert [r for r in finish_reasons(hit) if r is not None] == ["tool_calls"]
    assert_same_result(hit, miss)
    assert cache.stats().errors == 0


def test_a_sync_stream_is_replayed_chunk_for_chunk(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("completion")(client.chat.completions.create)
    miss = list(create(**WITH_USAGE))
    hit = list(create(**WITH_USAGE))
    assert openai_server.count("/chat/completions") == 1
    assert hit == miss
    assert_same_result(hit, miss)
    assert cache.stats().errors == 0


async def test_one_wrapper_serves_streamed_and_whole_requests_as_separate_entries(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    whole = await create(**CHAT)
    chunks = [chunk async for chunk in await create(**STREAM)]
    assert openai_server.count("/chat/completions") == 2
    whole_again = await create(**CHAT)
    chunks_again = [chunk async for chunk in await create(**STREAM)]
    assert openai_server.count("/chat/completions") == 2
    assert type(whole_again) is ChatCompletion and whole_again == whole
    assert all(type(chunk) is ChatCompletionChunk for chunk in chunks_again)
    assert chunks_again == chunks
    assert cache.stats().errors == 0


async def test_a_stream_first_does_not_change_how_whole_responses_are_rebuilt(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    chunks = [chunk async for chunk in await create(**STREAM, temperature=0)]
    whole = await create(**CHAT, temperature=0)
    assert type(await create(**CHAT, temperature=0)) is ChatCompletion
    assert [chunk async for chunk in await create(**STREAM, temperature=0)] == chunks
    assert await create(**CHAT, temperature=0) == whole
    assert openai_server.count("/chat/completions") == 2


async def test_a_missed_async_stream_keeps_the_sdk_streams_interface(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    async with await create(**STREAM) as stream:
        assert stream.response.status_code == 200  # delegated to the SDK's AsyncStream
        chunks = [chunk async for chunk in stream]
    async with await create(**STREAM) as replay:
        again = [chunk async for chunk in replay]
    assert again == chunks and openai_server.count("/chat/completions") == 1
    assert cache.stats().errors == 0


def test_a_missed_sync_stream_keeps_the_sdk_streams_interface(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("completion")(client.chat.completions.create)
    with create(**STREAM) as stream:
        assert stream.response.status_code == 200
        chunks = list(stream)
    stream.close()  # closing a finished stream is harmless, as with the SDK's Stream
    with create(**STREAM) as replay:
        again = list(replay)
    replay.close()
    assert again == chunks and openai_server.count("/chat/completions") == 1
    assert cache.stats().errors == 0


async def test_async_streams_close_on_a_miss_and_on_a_hit(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    miss = await create(**STREAM)
    chunks = [chunk async for chunk in miss]
    await miss.close()
    await miss.aclose()
    hit = await create(**STREAM)
    async for first in hit:
        assert first == chunks[0]
        break
    await hit.close()
    assert openai_server.count("/chat/completions") == 1
    assert cache.stats().errors == 0


async def test_an_abandoned_async_stream_is_not_stored(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    async with await create(**STREAM) as stream:
        async for _ in stream:
            break  # the caller stops after the first chunk
    full = [chunk async for chunk in await create(**STREAM)]
    assert openai_server.count("/chat/completions") == 2
    assert [chunk async for chunk in await create(**STREAM)] == full
    assert openai_server.count("/chat/completions") == 2


def test_an_abandoned_sync_stream_is_not_stored(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("completion")(client.chat.completions.create)
    stream = create(**STREAM)
    next(iter(stream))
    stream.close()
    full = list(create(**STREAM))
    assert openai_server.count("/chat/completions") == 2
    assert list(create(**STREAM)) == full
    assert openai_server.count("/chat/completions") == 2


async def test_a_streamed_legacy_completion_is_replayed(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("atext_completion")(aclient.completions.create)
    request = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "stream": True}
    miss = [chunk async for chunk in await create(**request)]
    hit = [chunk async for chunk in await create(**request)]
    assert openai_server.count("/completions") == 1
    assert all(type(chunk) is Completion for chunk in hit) and hit == miss
    assert [c.choices[0].finish_reason for c in hit] == [c.choices[0].finish_reason for c in miss]
    assert cache.stats().errors == 0
