"""The core's semantic flow over the reference ``local-semantic`` backend, and the
semantic backend contract run against it.

Every cache here gets a :class:`FakeClock`, so lifetimes are tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy
import pytest
from cachekit import AsyncBackend, Cache, SemanticBackend
from cachekit._semantic._embedders import HashEmbedder, normalise
from cachekit._semantic._index import partition_of
from cachekit._semantic._local import LocalSemanticBackend
from cachekit.testing import FakeClock, SemanticBackendContract

from ._support import Recorder

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"
REWORDED = "what is the capital of france"  # case and punctuation differ
LONGER = "what is the capital of france please"  # similarity ≈ 0.93 under `hash`
UNRELATED = "How do I bake sourdough bread at home?"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def request(text: str, *, model: str = MODEL, system: str | None = None) -> dict[str, Any]:
    messages = [] if system is None else [{"role": "system", "content": system}]
    messages.append({"role": "user", "content": text})
    return {"model": model, "messages": messages}


def similarity(a: str, b: str) -> float:
    """The cosine the core computes for two single-user-message prompts under ``hash``."""
    embed = HashEmbedder()
    va = normalise(embed.embed_one(f"user: {a}"))
    vb = normalise(embed.embed_one(f"user: {b}"))
    return sum(x * y for x, y in zip(va, vb, strict=True))


class CountingEmbedder:
    """The default embedder, counting calls and texts (a custom embedder callable)."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []
        self._inner = HashEmbedder()

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += texts
        return [self._inner.embed_one(t) for t in texts]


@pytest.fixture
def make_cache(pm: pluggy.PluginManager, clock: FakeClock) -> Callable[..., Cache]:
    def make(**options: Any) -> Cache:
        return Cache(type="local-semantic", plugins=pm, clock=clock, **options)

    return make


# -- hits and misses --------------------------------------------------------------------
async def test_near_duplicate_prompt_hits(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert cache.get_cache_key(**request(QUESTION)) != cache.get_cache_key(**request(REWORDED))
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER


async def test_different_model_misses(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert await cache.async_get_cache(**request(REWORDED, model="gpt-4o")) is None
    assert await cache.async_get_cache(**request(QUESTION, model="gpt-4o")) is None


async def test_different_system_prompt_misses(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION, system="Answer in French."))
    assert await cache.async_get_cache(**request(REWORDED, system="Answer in German.")) is None
    assert await cache.async_get_cache(**request(REWORDED)) is None  # no system prompt either
    assert await cache.async_get_cache(**request(REWORDED, system="Answer in French.")) == ANSWER


async def test_unrelated_prompt_misses(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert similarity(QUESTION, UNRELATED) < 0.5
    assert await cache.async_get_cache(**request(UNRELATED)) is None


async def test_threshold_edge(make_cache: Callable[..., Cache]) -> None:
    edge = similarity(QUESTION, LONGER)
    assert 0.9 < edge < 0.99
    at_edge = make_cache(similarity_threshold=edge - 1e-9)
    above = make_cache(similarity_threshold=edge + 1e-9)
    for cache in (at_edge, above):
        await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert await at_edge.async_get_cache(**request(LONGER)) == ANSWER
    assert await above.async_get_cache(**request(LONGER)) is None


async def test_default_threshold_rejects_a_related_but_different_question(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache()  # default similarity_threshold: 0.9
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    other = "What is the capital of Germany?"
    assert 0.5 < similarity(QUESTION, other) < 0.9
    assert await cache.async_get_cache(**request(other)) is None


# -- lifetimes ------------------------------------------------------------------------------
async def test_semantic_entries_expire(make_cache: Callable[..., Cache], clock: FakeClock) -> None:
    cache = make_cache(ttl=60)
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
    clock.advance(59.5)
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
    clock.advance(1.0)
    assert await cache.async_get_cache(**request(REWORDED)) is None
    # The index entry itself expired too, not only the value behind it.
    backend = cache.backend
    assert isinstance(backend, SemanticBackend)
    partition = partition_of("default", "completion", request(REWORDED))
    vector = normalise(HashEmbedder().embed_one(f"user: {REWORDED}"))
    assert await backend.search(partition, vector, 0.5) is None


async def test_per_call_ttl_applies_to_the_index(
    make_cache: Callable[..., Cache], clock: FakeClock
) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION), cache={"ttl": 0.5})
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
    clock.advance(0.7)
    assert await cache.async_get_cache(**request(REWORDED)) is None


# -- events and embedding calls -------------------------------------------------------------
async def test_hit_event_carries_similarity(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    recorder = Recorder()
    pm.register(recorder)
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert await cache.async_get_cache(**request(LONGER)) == ANSWER
    semantic_hit = recorder.of("hit")[-1]
    assert semantic_hit.similarity == pytest.approx(similarity(QUESTION, LONGER))
    assert semantic_hit.key == cache.get_cache_key(**request(LONGER))
    assert await cache.async_get_cache(**request(QUESTION)) == ANSWER
    assert recorder.of("hit")[-1].similarity is None  # an exact hit is not semantic


async def test_a_miss_embeds_once(make_cache: Callable[..., Cache]) -> None:
    embedder = CountingEmbedder()
    cache = make_cache(embedder=embedder)
    calls: list[dict[str, Any]] = []

    @cache.cached("completion")
    async def complete(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return ANSWER

    assert await complete(**request(QUESTION)) == ANSWER  # miss: lookup + store
    assert (len(calls), embedder.calls) == (1, 1)
    assert embedder.texts == [f"user: {QUESTION}"]
    assert await complete(**request(REWORDED)) == ANSWER  # semantic hit: one lookup
    assert (len(calls), embedder.calls) == (1, 2)
    assert await complete(**request(QUESTION)) == ANSWER  # exact hit: no embedding at all
    assert (len(calls), embedder.calls) == (1, 2)
    assert await complete(**request(UNRELATED)) == ANSWER  # miss again: one more
    assert (len(calls), embedder.calls) == (2, 3)


async def test_embedder_by_name(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache(embedder="hash", similarity_threshold=0.95)
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER


async def test_storing_the_same_prompt_twice_keeps_one_index_entry(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    await cache.async_add_cache({"choices": []}, **request(QUESTION))
    backend = cache.backend
    assert isinstance(backend, LocalSemanticBackend)
    partition = partition_of("default", "completion", request(QUESTION), "hash")
    assert list(backend._vectors[partition]) == [cache.get_cache_key(**request(QUESTION))]
    assert await cache.async_get_cache(**request(REWORDED)) == {"choices": []}


async def test_namespaces_do_not_share_semantic_entries(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION), cache={"namespace": "team-a"})
    assert await cache.async_get_cache(**request(REWORDED), cache={"namespace": "team-b"}) is None
    assert await cache.async_get_cache(**request(REWORDED), cache={"namespace": "team-a"}) == ANSWER


async def test_clear_makes_semantic_entries_miss(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    assert await cache.aclear() == 1
    assert await cache.async_get_cache(**request(REWORDED)) is None


# -- the contract ---------------------------------------------------------------------------
class TestLocalSemanticContract(SemanticBackendContract):
    """The reference backend keeps the byte contract and the semantic one, on both loops."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def make_backend(self, clock: FakeClock) -> Callable[[], AsyncBackend]:
        return lambda: LocalSemanticBackend(clock=clock)

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        assert isinstance(backend, LocalSemanticBackend)
        backend._clock.advance(seconds)  # type: ignore[attr-defined]


def test_two_embedders_never_share_a_partition() -> None:
    params = request(QUESTION)
    assert partition_of("default", "completion", params, "hash") != partition_of(
        "default", "completion", params, "my.module.embed"
    )


@pytest.mark.anyio
async def test_openai_embedder_adapter_orders_and_normalises() -> None:
    from cachekit import openai_embedder

    seen: list[dict[str, Any]] = []

    async def create(**kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return {
            "data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 4.0]}]
        }

    embed = openai_embedder(create, model="text-embedding-3-small", dimensions=2)
    assert await embed(["a", "b"]) == [[0.6, 0.8], [0.0, 1.0]]
    assert seen == [{"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 2}]
