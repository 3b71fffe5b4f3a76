"""Every call type LiteLLM caches, through LiteLLM's OpenAI provider on a loopback
OpenAI-compatible server (``client=``), where LiteLLM's mock cannot answer: list
embeddings (item by item, partial hits), transcriptions; on every backend.

The server answers each request differently (a counter in ids and text), so a hit is
told apart from a fresh call, and it records what it was asked.
"""

from __future__ import annotations

from typing import Any

import cachekit_litellm
import litellm
import openai
import pytest
from cachekit.testing import OpenAIServer

from ._support import MakeCache, hit

pytestmark = pytest.mark.anyio

EMBEDDING = "openai/text-embedding-3-small"
AUDIO = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256))


def vectors(response: Any) -> list[Any]:
    return [
        item.embedding if hasattr(item, "embedding") else item["embedding"]
        for item in response.data
    ]


async def test_aembedding_partial_hit_asks_the_provider_only_for_the_missing_items(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    litellm.cache = cache = make_cache()
    request = {"model": EMBEDDING, "client": aclient}
    await litellm.aembedding(**request, input=["red", "green"])
    await cachekit_litellm.wait_for_writes()
    openai_server.reset()
    merged = await litellm.aembedding(**request, input=["green", "blue", "red"])
    assert openai_server.count("/embeddings") == 1
    assert openai_server.requests[0].json["input"] == ["blue"]
    assert hit(merged)
    await cachekit_litellm.wait_for_writes()
    whole = await litellm.aembedding(**request, input=["blue", "red", "green"])
    assert openai_server.count("/embeddings") == 1 and hit(whole)
    direct = await litellm.aembedding(**request, input=["green", "blue", "red"], caching=False)
    assert type(merged) is type(direct) is litellm.EmbeddingResponse
    assert vectors(merged) == vectors(direct)  # the server's vectors are per text
    assert [item.index for item in merged.data] == [0, 1, 2]
    assert cache.stats().errors == 0


async def test_embedding_items_are_shared_by_sync_and_async_calls(
    make_cache: MakeCache,
    aclient: openai.AsyncOpenAI,
    client: openai.OpenAI,
    openai_server: OpenAIServer,
) -> None:
    litellm.cache = cache = make_cache()
    await litellm.aembedding(model=EMBEDDING, client=aclient, input=["red", "green"])
    await cachekit_litellm.wait_for_writes()
    sync_hit = litellm.embedding(model=EMBEDDING, client=client, input=["green", "red"])
    assert openai_server.count("/embeddings") == 1 and hit(sync_hit)
    assert type(sync_hit) is litellm.EmbeddingResponse
    # The sync path stores item by item as well: the async path finds its items.
    litellm.embedding(model=EMBEDDING, client=client, input="blue")
    async_hit = await litellm.aembedding(model=EMBEDDING, client=aclient, input=["blue", "red"])
    assert openai_server.count("/embeddings") == 2 and hit(async_hit)
    assert cache.stats().errors == 0


def test_a_sync_embedding_with_a_missing_item_asks_for_the_whole_list(
    make_cache: MakeCache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    # LiteLLM's sync path has no partial hits: a miss asks for every item (and stores all).
    litellm.cache = cache = make_cache()
    litellm.embedding(model=EMBEDDING, client=client, input=["red"])
    response = litellm.embedding(model=EMBEDDING, client=client, input=["red", "green"])
    assert not hit(response)
    assert openai_server.requests[-1].json["input"] == ["red", "green"]
    assert hit(litellm.embedding(model=EMBEDDING, client=client, input=["green", "red"]))
    assert openai_server.count("/embeddings") == 2
    assert cache.stats().errors == 0


# LiteLLM's OpenAI provider itself dumps base64 embeddings through a list[float] model.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
async def test_base64_embeddings_are_cached_as_given(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    litellm.cache = cache = make_cache()
    request = {"model": EMBEDDING, "client": aclient, "encoding_format": "base64"}
    first = await litellm.aembedding(**request, input=["red"])
    await cachekit_litellm.wait_for_writes()
    second = await litellm.aembedding(**request, input=["red"])
    assert openai_server.count("/embeddings") == 1 and hit(second)
    assert vectors(second) == vectors(first)
    floats = await litellm.aembedding(model=EMBEDDING, client=aclient, input=["red"])
    assert not hit(floats)  # another encoding is another request
    assert cache.stats().errors == 0


async def test_mocked_embeddings_hit(make_cache: MakeCache) -> None:
    # LiteLLM's caching doc example: one input, twice.
    litellm.cache = cache = make_cache()
    request: dict[str, Any] = {
        "model": "text-embedding-ada-002",
        "input": ["hello from litellm" * 5],
        "mock_response": [0.25, 0.5],
        "caching": True,
    }
    first = litellm.embedding(**request)
    second = litellm.embedding(**request)
    third = await litellm.aembedding(**request)
    assert not hit(first) and hit(second) and hit(third)
    assert vectors(second) == vectors(third) == [[0.25, 0.5]]
    assert cache.stats().errors == 0


async def test_atranscription_hits(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    litellm.cache = cache = make_cache()
    first = await litellm.atranscription(
        model="openai/whisper-1", file=("a.wav", AUDIO), client=aclient
    )
    await cachekit_litellm.wait_for_writes()
    second = await litellm.atranscription(
        model="openai/whisper-1", file=("a.wav", AUDIO), client=aclient
    )
    assert openai_server.count("/audio/transcriptions") == 1
    assert type(second) is litellm.TranscriptionResponse and hit(second)
    assert second.text == first.text
    other = await litellm.atranscription(
        model="openai/whisper-1", file=("a.wav", AUDIO + b"!"), client=aclient
    )
    assert not hit(other)  # keyed by the audio's content
    assert cache.stats().errors == 0


def test_transcription_hits(
    make_cache: MakeCache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    litellm.cache = cache = make_cache()
    first = litellm.transcription(model="openai/whisper-1", file=("a.wav", AUDIO), client=client)
    second = litellm.transcription(model="openai/whisper-1", file=("b.wav", AUDIO), client=client)
    assert openai_server.count("/audio/transcriptions") == 1
    assert hit(second) and second.text == first.text
    assert cache.stats().errors == 0


async def test_openai_provider_chat_hits(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    litellm.cache = cache = make_cache()
    request = {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "client": aclient,
    }
    first = await litellm.acompletion(**request)
    await cachekit_litellm.wait_for_writes()
    second = await litellm.acompletion(**request)
    assert openai_server.count("/chat/completions") == 1
    assert hit(second) and second.choices[0].message.content == first.choices[0].message.content
    assert cache.stats().errors == 0
