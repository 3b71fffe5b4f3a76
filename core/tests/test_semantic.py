"""The core's semantic flow over the reference ``local-semantic`` backend: the shared
user-visible scenarios (``cachekit.testing.SemanticScenarios``), what is particular to
the core, and the semantic backend contract run against the backend.

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
from cachekit.testing import FakeClock, SemanticBackendContract, SemanticScenarios

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"
REWORDED = "what is the capital of france"  # case and punctuation differ
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


@pytest.fixture
def make_cache(pm: pluggy.PluginManager, clock: FakeClock) -> Callable[..., Cache]:
    def make(**options: Any) -> Cache:
        return Cache(type="local-semantic", plugins=pm, clock=clock, **options)

    return make


# -- the user-visible scenarios, shared with every semantic backend -------------------------
class TestLocalSemanticScenarios(SemanticScenarios):
    """``cachekit.testing.SemanticScenarios`` on ``local-semantic`` (exact float64 scores)."""

    similarity_tolerance = 1e-9

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def make_cache(self, pm: pluggy.PluginManager, clock: FakeClock) -> Callable[..., Cache]:
        def make(**options: Any) -> Cache:
            return Cache(type="local-semantic", plugins=pm, clock=clock, **options)

        return make


# -- what is particular to the core and the reference backend -------------------------------
async def test_expired_index_entries_are_gone_not_only_their_values(
    make_cache: Callable[..., Cache], clock: FakeClock
) -> None:
    cache = make_cache(ttl=60)
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    clock.advance(59.5)
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
    clock.advance(1.0)
    assert await cache.async_get_cache(**request(REWORDED)) is None
    backend = cache.backend
    assert isinstance(backend, SemanticBackend)
    partition = partition_of("default", "completion", request(REWORDED), "hash")
    vector = normalise(HashEmbedder().embed_one(f"user: {REWORDED}"))
    assert await backend.search(partition, vector, 0.5) is None


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
