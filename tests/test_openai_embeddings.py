"""Embeddings through the ``openai`` SDK (issue 11, item 4): per-item entries for list
inputs, float and ``encoding_format="base64"`` (and the SDK's default, which asks the
server for base64 and decodes it); a partial hit sends the provider exactly one
request holding only the missing, de-duplicated items, and the merged result equals
what an uncached call returns."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from openai.types import CreateEmbeddingResponse

from ._sdk import assert_same_result

pytestmark = pytest.mark.anyio

MODEL = "text-embedding-3-small"
ENCODINGS = pytest.mark.parametrize(
    "encoding", [{"encoding_format": "float"}, {"encoding_format": "base64"}, {}],
    ids=["float", "base64", "sdk-default"],
)  # fmt: skip


@ENCODINGS
async def test_a_list_input_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer, encoding: dict[str, Any]
) -> None:
    create = cache.cached("aembedding")(aclient.embeddings.create)
    first = await create(model=MODEL, input=["red", "green"], **encoding)
    again = await create(model=MODEL, input=["red", "green"], **encoding)
    assert openai_server.count("/embeddings") == 1
    assert type(again) is CreateEmbeddingResponse
    assert again.data == first.data and again.model == first.model
    assert_same_result(again.data, first.data)
    assert cache.stats().errors == 0


async def test_a_single_string_input_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("aembedding")(aclient.embeddings.create)
    first = await create(model=MODEL, input="red")
    again = await create(model=MODEL, input="red")
    assert openai_server.count("/embeddings") == 1
    assert type(again) is CreateEmbeddingResponse and again.data == first.data
    assert cache.stats().errors == 0


@ENCODINGS
async def test_a_partial_hit_asks_the_provider_once_for_only_the_missing_items(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer, encoding: dict[str, Any]
) -> None:
    create = cache.cached("aembedding")(aclient.embeddings.create)
    await create(model=MODEL, input=["red", "green"], **encoding)
    openai_server.reset()
    wanted = ["green", "blue", "blue", "red", "cyan"]
    merged = await create(model=MODEL, input=wanted, **encoding)
    assert openai_server.count("/embeddings") == 1
    assert sorted(openai_server.requests[0].json["input"]) == ["blue", "cyan"]
    direct = await aclient.embeddings.create(model=MODEL, input=wanted, **encoding)
    assert type(merged) is type(direct)
    assert merged.data == direct.data and merged.model == direct.model
    assert [item.index for item in merged.data] == [0, 1, 2, 3, 4]
    assert_same_result(merged.data, direct.data)
    openai_server.reset()
    assert (await create(model=MODEL, input=wanted, **encoding)).data == direct.data
    assert openai_server.count("/embeddings") == 0
    assert cache.stats().errors == 0


def test_a_sync_clients_partial_hit_asks_the_provider_once(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("embedding")(client.embeddings.create)
    create(model=MODEL, input=["red"], encoding_format="base64")
    openai_server.reset()
    merged = create(model=MODEL, input=["red", "blue"], encoding_format="base64")
    assert openai_server.count("/embeddings") == 1
    assert openai_server.requests[0].json["input"] == ["blue"]
    direct = client.embeddings.create(model=MODEL, input=["red", "blue"], encoding_format="base64")
    assert type(merged) is CreateEmbeddingResponse and merged.data == direct.data
    assert all(isinstance(item.embedding, str) for item in merged.data)
    assert cache.stats().errors == 0


async def test_a_full_hit_of_a_list_makes_no_request(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("aembedding")(aclient.embeddings.create)
    await create(model=MODEL, input=["red", "green", "blue"], encoding_format="float")
    openai_server.reset()
    subset = await create(model=MODEL, input=["blue", "red"], encoding_format="float")
    assert openai_server.count("/embeddings") == 0
    direct = await aclient.embeddings.create(
        model=MODEL, input=["blue", "red"], encoding_format="float"
    )
    assert type(subset) is CreateEmbeddingResponse and subset.data == direct.data
    assert cache.stats().errors == 0
