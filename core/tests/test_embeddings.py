"""Per-item embedding caching: every item of a list ``input`` is its own entry, read in
one batch; the provider is asked only for the missing, de-duplicated items; the answer
is merged in request order with ``index`` renumbered and ``usage`` for what was billed."""

from __future__ import annotations

from typing import Any

import pytest
from cachekit import Cache
from cachekit.testing import FakeClock

from ._support import (
    CreateEmbeddingResponse,
    Provider,
    Recorder,
    SpyBackend,
    embedding_model_response,
    embedding_response,
    plugin_manager,
    tokens,
    vector,
)

pytestmark = pytest.mark.anyio

MODEL = "text-embedding-3-small"


@pytest.fixture
def cache(clock: FakeClock, recorder: Recorder) -> Cache:
    return Cache(type="spy", plugins=plugin_manager(recorder), clock=clock)


def spy(cache: Cache) -> SpyBackend:
    backend = cache.backend
    assert isinstance(backend, SpyBackend)
    return backend


def expected(items: list[Any], billed: list[Any]) -> dict[str, Any]:
    used = sum(tokens(i) for i in billed)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector(item)}
            for i, item in enumerate(items)
        ],
        "model": MODEL,
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }


async def test_partial_hit_asks_only_for_missing_items_async(cache: Cache) -> None:
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)

    first = await aembedding(model=MODEL, input=["hello world", "cat"])
    assert first == expected(["hello world", "cat"], ["hello world", "cat"])
    assert spy(cache).count("get_many") == 1
    assert spy(cache).count("get") == 0

    items = ["cat", "a new sentence here", "hello world", "a new sentence here"]
    merged = await aembedding(model=MODEL, input=items)

    assert provider.count == 2
    assert provider.calls[1] == {"model": MODEL, "input": ["a new sentence here"]}
    assert merged == expected(items, ["a new sentence here"])  # order, index, usage
    assert spy(cache).count("get_many") == 2  # one batched read per call
    assert spy(cache).count("get") == 0


def test_partial_hit_asks_only_for_missing_items_sync(cache: Cache) -> None:
    provider = Provider(embedding_response)
    embedding = cache.cached("embedding")(provider)
    embedding(model=MODEL, input=["a b", "c d e"])
    items = ["x", "c d e", "a b"]
    merged = embedding(model=MODEL, input=items)
    assert provider.calls[1]["input"] == ["x"]
    assert merged == expected(items, ["x"])
    assert spy(cache).count("get_many") == 2


@pytest.mark.parametrize("face", ["async", "sync"])
async def test_full_hit_calls_nobody_and_bills_nothing(cache: Cache, face: str) -> None:
    provider = Provider(embedding_response)
    items = ["one two", "three"]
    if face == "async":
        aembedding = cache.cached("aembedding")(provider.acall)
        await aembedding(model=MODEL, input=items)
        hit = await aembedding(model=MODEL, input=list(reversed(items)))
    else:
        embedding = cache.cached("embedding")(provider)
        embedding(model=MODEL, input=items)
        hit = embedding(model=MODEL, input=list(reversed(items)))
    assert provider.count == 1
    assert hit == expected(list(reversed(items)), [])
    assert hit["usage"] == {"prompt_tokens": 0, "total_tokens": 0}


async def test_duplicates_are_asked_for_once(cache: Cache) -> None:
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    items = ["dup", "other", "dup", "dup"]
    result = await aembedding(model=MODEL, input=items)
    assert provider.calls == [{"model": MODEL, "input": ["dup", "other"]}]
    assert result["data"] == expected(items, [])["data"]
    assert result["usage"]["total_tokens"] == 2  # what the provider billed
    backend = spy(cache)
    assert backend.count("set_many") == 1
    assert len(backend.raw()) == 2


async def test_provider_answer_out_of_order_is_matched_by_index(cache: Cache) -> None:
    def reversed_answer(kwargs: dict[str, Any], n: int) -> dict[str, Any]:
        doc = embedding_response(kwargs, n)
        doc["data"].reverse()
        return doc

    provider = Provider(reversed_answer)
    aembedding = cache.cached("aembedding")(provider.acall)
    await aembedding(model=MODEL, input=["alpha", "beta gamma"])
    hit = await aembedding(model=MODEL, input=["beta gamma", "alpha"])
    assert provider.count == 1
    assert hit == expected(["beta gamma", "alpha"], [])


async def test_each_item_is_the_one_item_request(cache: Cache, recorder: Recorder) -> None:
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    await aembedding(model=MODEL, input=["p", "q"])
    keys = {cache.get_cache_key(model=MODEL, input=[item]) for item in ("p", "q")}
    assert set(spy(cache).raw()) == keys
    assert {e.key for e in recorder.of("miss")} == keys
    assert {e.key for e in recorder.of("store")} == keys
    assert all(e.call_type == "embedding" for e in recorder.events)

    await aembedding(model=MODEL, input=["q"])  # a one-item list is a per-item hit
    assert provider.count == 1


async def test_a_string_input_has_its_own_whole_entry(cache: Cache) -> None:
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    first = await aembedding(model=MODEL, input="just text")
    assert await aembedding(model=MODEL, input="just text") == first
    assert provider.count == 1
    assert spy(cache).count("get_many") == 0
    assert list(spy(cache).raw()) == [cache.get_cache_key(model=MODEL, input="just text")]


async def test_flat_list_of_ints_is_one_tokenised_input(cache: Cache) -> None:
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    first = await aembedding(model=MODEL, input=[101, 202, 303])
    assert provider.calls == [{"model": MODEL, "input": [101, 202, 303]}]
    assert len(first["data"]) == 1
    assert await aembedding(model=MODEL, input=[101, 202, 303]) == first
    assert provider.count == 1
    backend = spy(cache)
    assert backend.count("get_many") == 0  # not a batch
    assert list(backend.raw()) == [cache.get_cache_key(model=MODEL, input=[101, 202, 303])]


async def test_list_of_token_lists_is_per_item(cache: Cache) -> None:
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    await aembedding(model=MODEL, input=[[1, 2], [3]])
    merged = await aembedding(model=MODEL, input=[[3], [4, 5], [1, 2]])
    assert provider.calls[1]["input"] == [[4, 5]]
    assert merged == expected([[3], [4, 5], [1, 2]], [[4, 5]])


async def test_pydantic_responses(cache: Cache) -> None:
    provider = Provider(embedding_model_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    first = await aembedding(model=MODEL, input=["a", "b"])
    assert isinstance(first, CreateEmbeddingResponse)

    partial = await aembedding(model=MODEL, input=["b", "c"])
    assert isinstance(partial, CreateEmbeddingResponse)  # rebuilt into the provider's type
    assert partial.model_dump(mode="json") == expected(["b", "c"], ["c"])

    full = await aembedding(model=MODEL, input=["c", "a"])  # no provider answer this time:
    assert isinstance(full, CreateEmbeddingResponse)  # the type misses returned
    assert full.model_dump(mode="json") == expected(["c", "a"], [])

    typed = cache.cached("aembedding", response_type=CreateEmbeddingResponse)(provider.acall)
    rebuilt = await typed(model=MODEL, input=["c", "a"])
    assert isinstance(rebuilt, CreateEmbeddingResponse)
    assert rebuilt.model_dump(mode="json") == expected(["c", "a"], [])
    assert provider.count == 2


async def test_controls_apply_per_item(cache: Cache, clock: FakeClock) -> None:
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    backend = spy(cache)

    await aembedding(model=MODEL, input=["old"], cache={"ttl": 100.0})
    assert backend.ttls() == [100.0]
    clock.advance(10)
    await aembedding(model=MODEL, input=["new"])
    await aembedding(model=MODEL, input=["old", "new"], cache={"s-maxage": 5})
    assert provider.calls[-1]["input"] == ["old"]  # only the entry older than 5 s

    await aembedding(model=MODEL, input=["old", "new"], cache={"no-cache": True})
    assert provider.calls[-1]["input"] == ["old", "new"]
    reads = backend.count("get_many")
    await aembedding(model=MODEL, input=["x", "new"], cache={"no-store": True})
    assert provider.calls[-1]["input"] == ["x"]
    assert backend.count("get_many") == reads + 1
    writes = len(backend.ttls())
    await aembedding(model=MODEL, input=["x"])
    assert provider.calls[-1]["input"] == ["x"]  # no-store left nothing
    assert len(backend.ttls()) == writes + 1
    assert all("cache" not in call for call in provider.calls)


async def test_unsplittable_answer_is_passed_on_uncached(cache: Cache, recorder: Recorder) -> None:
    provider = Provider(lambda kw, n: {"embeddings": [[0.0]] * len(kw["input"])})
    aembedding = cache.cached("aembedding")(provider.acall)
    result = await aembedding(model=MODEL, input=["a", "b"])
    assert result == {"embeddings": [[0.0], [0.0]]}
    assert provider.count == 1
    assert recorder.of("error")
    assert spy(cache).raw() == {}
