"""Embeddings through a wrapped client: an entry per input item, float and base64
(and the SDK's default, which asks for base64 and decodes it); a partial hit sends
one request holding only the missing, de-duplicated items and merges an answer
equal to an uncached call's."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap
from openai.types import CreateEmbeddingResponse

pytestmark = pytest.mark.anyio

MODEL = "text-embedding-3-small"
ENCODINGS = pytest.mark.parametrize(
    "encoding", [{"encoding_format": "float"}, {"encoding_format": "base64"}, {}],
    ids=["float", "base64", "sdk-default"],
)  # fmt: skip


@ENCODINGS
async def test_a_partial_hit_asks_once_for_only_the_missing_items(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer, encoding: dict[str, Any]
) -> None:
    wrapped = wrap(aclient, cache)
    first = await wrapped.embeddings.create(model=MODEL, input=["red", "green"], **encoding)
    assert type(first) is CreateEmbeddingResponse
    openai_server.reset()
    wanted = ["green", "blue", "blue", "red", "cyan"]
    merged = await wrapped.embeddings.create(model=MODEL, input=wanted, **encoding)
    assert openai_server.count("/embeddings") == 1
    assert sorted(openai_server.requests[0].json["input"]) == ["blue", "cyan"]
    direct = await aclient.embeddings.create(model=MODEL, input=wanted, **encoding)
    assert type(merged) is type(direct)
    assert merged.data == direct.data and merged.model == direct.model
    assert [item.index for item in merged.data] == [0, 1, 2, 3, 4]
    openai_server.reset()
    again = await wrapped.embeddings.create(model=MODEL, input=wanted, **encoding)
    assert again.data == direct.data and openai_server.count("/embeddings") == 0
    assert cache.stats().errors == 0


@ENCODINGS
def test_sync_embeddings_are_cached_per_item(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer, encoding: dict[str, Any]
) -> None:
    wrapped = wrap(client, cache)
    first = wrapped.embeddings.create(model=MODEL, input=["red", "green"], **encoding)
    single = wrapped.embeddings.create(model=MODEL, input=["green"], **encoding)
    assert openai_server.count("/embeddings") == 1  # "green" was stored as its own item
    assert single.data[0].embedding == first.data[1].embedding
    again = wrapped.embeddings.create(model=MODEL, input=["red", "green"], **encoding)
    assert type(again) is CreateEmbeddingResponse and again.data == first.data
    assert openai_server.count("/embeddings") == 1
    assert cache.stats().errors == 0


async def test_float_and_base64_are_separate_entries(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    as_float = await wrapped.embeddings.create(model=MODEL, input=["red"], encoding_format="float")
    as_b64 = await wrapped.embeddings.create(model=MODEL, input=["red"], encoding_format="base64")
    assert openai_server.count("/embeddings") == 2
    assert isinstance(as_float.data[0].embedding, list)
    assert as_b64.data[0].embedding != as_float.data[0].embedding  # a base64 string
    assert cache.stats().errors == 0


async def test_models_and_dimensions_are_separate_entries(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    await wrapped.embeddings.create(model=MODEL, input=["red"])
    await wrapped.embeddings.create(model="text-embedding-3-large", input=["red"])
    await wrapped.embeddings.create(model=MODEL, input=["red"], dimensions=8)
    assert openai_server.count("/embeddings") == 3
    assert cache.stats().errors == 0
