"""``SemanticScenarios``: the semantic cache as a user sees it, for any semantic backend.

:class:`SemanticBackendContract` checks a backend's vector index call by call; these
scenarios check what a user of ``Cache(type=<semantic backend>)`` relies on, through
the public ``Cache`` API: a reworded prompt hits; another model, another system
prompt, an unrelated prompt, another image or another tool call misses (see
``cachekit._semantic._index`` for what is fuzzy and what is exact); the similarity
threshold is an edge; lifetimes hold; a hit event carries its similarity; a miss
costs one embedding. Subclass it with a ``make_cache`` fixture::

    class TestMySemanticScenarios(SemanticScenarios):
        @pytest.fixture
        def make_cache(self, clock):
            return lambda **options: Cache(type="my-semantic", clock=clock, **options)

        @pytest.fixture
        def clock(self):
            return FakeClock()   # lifetimes move this clock; the default sleeps

``make_cache(**options)`` builds a fresh ``Cache`` on the backend under test (a
namespace of its own on a shared server) and closes it after the test. Prompts are
embedded with the built-in ``hash`` embedder, whose similarities the scenarios
compute themselves; backends that keep float32 vectors pass within
:attr:`SemanticScenarios.similarity_tolerance`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from cachekit import Cache, CacheEvent, HashEmbedder, hookimpl
from cachekit.testing._contract import FakeClock

__all__ = ["SemanticScenarios"]

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"
REWORDED = "what is the capital of france"  # case and punctuation differ
LONGER = "what is the capital of france please"  # similarity ≈ 0.93 under `hash`
RELATED = "What is the capital of Germany?"  # similar words, another question
UNRELATED = "How do I bake sourdough bread at home?"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}

MakeCache = Callable[..., Cache]


def request(text: str, *, model: str = MODEL, system: str | None = None) -> dict[str, Any]:
    """A chat completion request with one user message (and a system prompt)."""
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": text})
    return {"model": model, "messages": messages}


def image_request(text: str, image_url: str) -> dict[str, Any]:
    """A user message of text plus an image (the image must match exactly)."""
    content = [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": image_url}},
    ]
    return {"model": MODEL, "messages": [{"role": "user", "content": content}]}


def tool_call_request(text: str, arguments: str) -> dict[str, Any]:
    """A follow-up after an assistant tool call (the call must match exactly)."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": arguments},
    }
    return {
        "model": MODEL,
        "messages": [
            {"role": "user", "content": "Which city should I visit?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a capital"},
            {"role": "user", "content": text},
        ],
    }


def similarity(a: str, b: str) -> float:
    """The cosine the core computes for two one-user-message prompts under ``hash``."""
    embed = HashEmbedder()
    va, vb = embed.embed_one(f"user: {a}"), embed.embed_one(f"user: {b}")
    dot = sum(x * y for x, y in zip(va, vb, strict=True))
    return dot / (math.sqrt(sum(x * x for x in va)) * math.sqrt(sum(y * y for y in vb)))


class _Hits:
    """An observer keeping the last hit event."""

    last: CacheEvent | None = None

    @hookimpl
    def cachekit_on_hit(self, event: CacheEvent) -> None:
        self.last = event


class _CountingEmbedder:
    """The ``hash`` embedder as a custom callable, counting calls and texts."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []
        self._inner = HashEmbedder()

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += texts
        return [self._inner.embed_one(t) for t in texts]


class SemanticScenarios:
    """What a user of a semantic cache type relies on (see the module docstring)."""

    #: How far from the exact similarity a backend's scores may be (float32: 1e-4).
    similarity_tolerance: float = 1e-4

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def make_cache(self) -> MakeCache:
        raise NotImplementedError("override the make_cache fixture")

    @pytest.fixture
    def clock(self) -> FakeClock | None:
        """The clock ``make_cache`` gives its caches; ``None``: real time (lifetimes
        kept by a server's clock), and the lifetime scenarios sleep."""
        return None

    @pytest.fixture
    def advance(self, clock: FakeClock | None) -> Callable[[float], Awaitable[None]]:
        async def advance(seconds: float) -> None:
            if clock is None:
                await anyio.sleep(seconds)
            else:
                clock.advance(seconds)

        return advance

    # -- hits and misses ------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_scenario_near_duplicate_prompt_hits(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert cache.get_cache_key(**request(QUESTION)) != cache.get_cache_key(**request(REWORDED))
        assert await cache.async_get_cache(**request(REWORDED)) == ANSWER

    @pytest.mark.anyio
    async def test_scenario_another_model_misses(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert await cache.async_get_cache(**request(REWORDED, model="gpt-4o")) is None
        assert await cache.async_get_cache(**request(QUESTION, model="gpt-4o")) is None

    @pytest.mark.anyio
    async def test_scenario_another_system_prompt_misses(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        french, german = "Answer in French.", "Answer in German."
        await cache.async_add_cache(ANSWER, **request(QUESTION, system=french))
        assert await cache.async_get_cache(**request(REWORDED, system=german)) is None
        assert await cache.async_get_cache(**request(REWORDED)) is None  # none at all
        assert await cache.async_get_cache(**request(REWORDED, system=french)) == ANSWER

    @pytest.mark.anyio
    async def test_scenario_unrelated_prompt_misses(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert similarity(QUESTION, UNRELATED) < 0.5
        assert await cache.async_get_cache(**request(UNRELATED)) is None

    @pytest.mark.anyio
    async def test_scenario_default_threshold_rejects_a_related_question(
        self, make_cache: MakeCache
    ) -> None:
        cache = make_cache()  # default similarity_threshold: 0.9
        await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert 0.5 < similarity(QUESTION, RELATED) < 0.9
        assert await cache.async_get_cache(**request(RELATED)) is None

    @pytest.mark.anyio
    async def test_scenario_images_must_match_exactly(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        cat, dog = "https://example.com/cat.png", "https://example.com/dog.png"
        await cache.async_add_cache(ANSWER, **image_request(QUESTION, cat))
        assert await cache.async_get_cache(**image_request(REWORDED, cat)) == ANSWER
        assert await cache.async_get_cache(**image_request(REWORDED, dog)) is None
        assert await cache.async_get_cache(**image_request(QUESTION, dog)) is None
        assert await cache.async_get_cache(**request(QUESTION)) is None  # no image at all

    @pytest.mark.anyio
    async def test_scenario_tool_calls_must_match_exactly(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        paris, berlin = '{"city": "Paris"}', '{"city": "Berlin"}'
        await cache.async_add_cache(ANSWER, **tool_call_request(QUESTION, paris))
        assert await cache.async_get_cache(**tool_call_request(REWORDED, paris)) == ANSWER
        assert await cache.async_get_cache(**tool_call_request(REWORDED, berlin)) is None
        assert await cache.async_get_cache(**tool_call_request(QUESTION, berlin)) is None

    @pytest.mark.anyio
    async def test_scenario_threshold_edge(self, make_cache: MakeCache) -> None:
        edge = similarity(QUESTION, LONGER)
        assert 0.9 < edge < 0.99
        slack = self.similarity_tolerance
        at_edge = make_cache(similarity_threshold=edge - slack)
        above = make_cache(similarity_threshold=min(1.0, edge + slack))
        for cache in (at_edge, above):
            await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert await at_edge.async_get_cache(**request(LONGER)) == ANSWER
        assert await above.async_get_cache(**request(LONGER)) is None

    # -- lifetimes --------------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_scenario_entries_expire(
        self, make_cache: MakeCache, advance: Callable[[float], Awaitable[None]]
    ) -> None:
        cache = make_cache(ttl=0.5)
        await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
        await advance(0.7)
        assert await cache.async_get_cache(**request(REWORDED)) is None
        assert await cache.async_get_cache(**request(QUESTION)) is None

    @pytest.mark.anyio
    async def test_scenario_per_call_ttl_applies(
        self, make_cache: MakeCache, advance: Callable[[float], Awaitable[None]]
    ) -> None:
        cache = make_cache()
        await cache.async_add_cache(ANSWER, **request(QUESTION), cache={"ttl": 0.5})
        assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
        await advance(0.7)
        assert await cache.async_get_cache(**request(REWORDED)) is None

    # -- events and embedding calls ---------------------------------------------------------
    @pytest.mark.anyio
    async def test_scenario_hit_event_carries_similarity(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        hits = _Hits()
        cache.plugins.register(hits)
        try:
            await cache.async_add_cache(ANSWER, **request(QUESTION))
            assert await cache.async_get_cache(**request(LONGER)) == ANSWER
            assert hits.last is not None
            assert hits.last.similarity == pytest.approx(
                similarity(QUESTION, LONGER), abs=self.similarity_tolerance
            )
            assert hits.last.key == cache.get_cache_key(**request(LONGER))
            assert await cache.async_get_cache(**request(QUESTION)) == ANSWER
            assert hits.last.similarity is None  # an exact hit is not semantic
        finally:
            cache.plugins.unregister(hits)

    @pytest.mark.anyio
    async def test_scenario_a_miss_embeds_once(self, make_cache: MakeCache) -> None:
        embedder = _CountingEmbedder()
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
        assert await complete(**request(QUESTION)) == ANSWER  # exact hit: no embedding
        assert (len(calls), embedder.calls) == (1, 2)
        assert await complete(**request(UNRELATED)) == ANSWER  # miss again: one more
        assert (len(calls), embedder.calls) == (2, 3)

    # -- namespaces -------------------------------------------------------------------------
    @pytest.mark.anyio
    async def test_scenario_namespaces_do_not_share_entries(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        team_a, team_b = (f"team-{uuid.uuid4().hex[:8]}" for _ in range(2))
        await cache.async_add_cache(ANSWER, **request(QUESTION), cache={"namespace": team_a})
        assert await cache.async_get_cache(**request(REWORDED), cache={"namespace": team_b}) is None
        assert (
            await cache.async_get_cache(**request(REWORDED), cache={"namespace": team_a}) == ANSWER
        )
        await cache.aclear(namespace=team_a)

    @pytest.mark.anyio
    async def test_scenario_clear_makes_entries_miss(self, make_cache: MakeCache) -> None:
        cache = make_cache()
        await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert await cache.aclear() == 1
        assert await cache.async_get_cache(**request(REWORDED)) is None
