"""Stale-while-revalidate and stale-if-error through the real ``openai`` SDK (issue 18),
on the local, redis (a real redis-server) and disk backends. Provider calls are
counted at the loopback server; time moves through an injected clock (the backends
that honour one follow it; Redis keeps its own time, so its lifetime is read back)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import openai
import pytest
import redis.asyncio
from cachekit import Cache
from cachekit.testing import FakeClock, OpenAIServer, free_port
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from ._sdk import CHAT, MakeCache

pytestmark = pytest.mark.anyio

SWR = {"stale-while-revalidate": 600}
SIE = {"stale-if-error": 600}
PATH = "/chat/completions"


def ask(question: str) -> dict[str, Any]:
    return {**CHAT, "messages": [{"role": "user", "content": question}]}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_900_000_000.0)  # a wall-clock-like time (disk stores expiries)


@pytest.fixture
def stale_cache(make_cache: MakeCache, clock: FakeClock) -> Cache:
    return make_cache(clock=clock, ttl=60)


@dataclass
class Setup:
    """A test's cache (TTL 60 s), its clock, the server and the wrapped async chat call."""

    cache: Cache
    clock: FakeClock
    server: OpenAIServer
    chat: Any


@pytest.fixture
def it(
    stale_cache: Cache, clock: FakeClock, openai_server: OpenAIServer, aclient: openai.AsyncOpenAI
) -> Setup:
    chat = stale_cache.cached("acompletion")(aclient.chat.completions.create)
    return Setup(stale_cache, clock, openai_server, chat)


async def test_200_concurrent_callers_of_stale_keys_make_one_refresh_per_key(it: Setup) -> None:
    create, stale_cache, openai_server, clock = it.chat, it.cache, it.server, it.clock
    questions = ["one?", "two?", "three?"]
    first = {q: await create(**ask(q), cache=SWR) for q in questions}
    clock.advance(61)
    served: list[tuple[str, ChatCompletion]] = []

    async def caller(q: str) -> None:
        served.append((q, await create(**ask(q), cache=SWR)))

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(caller, questions[i % 3])
    await stale_cache.await_refreshes()
    assert openai_server.count(PATH) == 3 + 3  # the first calls, then one refresh per key
    fresh = {q: await create(**ask(q), cache=SWR) for q in questions}
    assert openai_server.count(PATH) == 6
    # Every caller got an answer at once: the stale one, or (a read that came after the
    # refresh had stored, on a backend with real I/O) the refreshed one.
    assert len(served) == 200
    assert all(answer in (first[q], fresh[q]) for q, answer in served)
    assert all(fresh[q].id != first[q].id for q in questions)
    stale_served = sum(answer == first[q] for q, answer in served)
    stats = stale_cache.stats()
    assert stats.stale_hits == stale_served >= 3 and stats.hits == 203
    assert (stats.refreshes, stats.refresh_failures) == (3, 0)


@pytest.mark.parametrize("status", [500, 429])
async def test_with_the_provider_failing_no_call_raises_within_stale_if_error(
    it: Setup, status: int
) -> None:
    create, stale_cache, openai_server, clock = it.chat, it.cache, it.server, it.clock
    first = await create(**CHAT, cache=SIE)
    clock.advance(61)
    openai_server.fail_next(status, times=1000)
    raised = 0

    async def caller() -> None:
        nonlocal raised
        try:
            assert await create(**CHAT, cache=SIE) == first
        except openai.APIStatusError:
            raised += 1

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(caller)
    assert raised == 0 and stale_cache.stats().stale_on_error == 50
    assert 1 <= openai_server.count(PATH) - 1 <= 50  # the provider was asked, and failed
    clock.advance(600)  # past the window: the provider's error reaches the caller
    with pytest.raises(openai.InternalServerError if status == 500 else openai.RateLimitError):
        await create(**CHAT, cache=SIE)


async def test_a_stopped_provider_is_answered_from_the_held_entry(
    stale_cache: Cache, aclient: openai.AsyncOpenAI, clock: FakeClock
) -> None:
    first = await stale_cache.cached("acompletion")(aclient.chat.completions.create)(
        **CHAT, cache=SIE
    )
    clock.advance(61)
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    async with openai.AsyncOpenAI(base_url=dead, api_key="sk-test", max_retries=0) as down:
        create = stale_cache.cached("acompletion")(down.chat.completions.create)
        assert await create(**CHAT, cache=SIE) == first
        clock.advance(600)
        with pytest.raises(openai.APIConnectionError):
            await create(**CHAT, cache=SIE)


async def test_s_maxage_and_no_cache_win_over_staleness(it: Setup) -> None:
    create, stale_cache, openai_server, clock = it.chat, it.cache, it.server, it.clock
    first = await create(**CHAT, cache={**SWR, **SIE})
    clock.advance(61)
    too_old = await create(**CHAT, cache={**SWR, "s-maxage": 30})
    assert too_old.id != first.id and openai_server.count(PATH) == 2
    clock.advance(61)
    openai_server.fail_next(500)
    with pytest.raises(openai.InternalServerError):  # s-maxage: not even held for errors
        await create(**CHAT, cache={**SIE, "s-maxage": 30})
    forced = await create(**CHAT, cache={**SWR, "no-cache": True})
    assert forced.id != too_old.id and openai_server.count(PATH) == 4
    await stale_cache.await_refreshes()
    assert openai_server.count(PATH) == 4 and stale_cache.stats().stale_hits == 0


async def test_a_stale_stream_is_replayed_and_refreshed_once(it: Setup) -> None:
    create, stale_cache, openai_server, clock = it.chat, it.cache, it.server, it.clock
    stream = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    first = [chunk async for chunk in await create(**stream, cache=SWR)]
    clock.advance(61)
    replay = [chunk async for chunk in await create(**stream, cache=SWR)]
    assert replay == first
    await stale_cache.await_refreshes()
    assert openai_server.count(PATH) == 2
    fresh = [chunk async for chunk in await create(**stream, cache=SWR)]
    assert fresh[0].id != first[0].id and openai_server.count(PATH) == 2


async def test_stale_embedding_items_are_served_and_refreshed(
    it: Setup, aclient: openai.AsyncOpenAI
) -> None:
    stale_cache, openai_server, clock = it.cache, it.server, it.clock
    create = stale_cache.cached("aembedding")(aclient.embeddings.create)
    model = "text-embedding-3-small"
    first = await create(model=model, input=["red", "green"], cache={**SWR, **SIE})
    clock.advance(61)
    mixed = await create(model=model, input=["green", "red", "blue"], cache={**SWR, **SIE})
    assert type(mixed) is CreateEmbeddingResponse
    assert [d.embedding for d in mixed.data[:2]] == [d.embedding for d in first.data[::-1]]
    await stale_cache.await_refreshes()
    asked = [r.json["input"] for r in openai_server.requests]
    assert asked == [["red", "green"], ["blue"], ["green", "red"]]  # the stale items, once
    clock.advance(61)
    openai_server.fail_next(503, times=10)
    held = await create(model=model, input=["blue"], cache=SIE)
    assert held.data[0].embedding == mixed.data[2].embedding


async def test_the_backend_keeps_a_stale_entry_past_its_ttl(
    it: Setup, backend: str, request: pytest.FixtureRequest
) -> None:
    create, stale_cache, openai_server, clock = it.chat, it.cache, it.server, it.clock
    first = await create(**CHAT, cache=SWR)
    key = stale_cache.get_cache_key(**CHAT)
    if backend == "redis":  # Redis keeps its own time: read the lifetime it was given
        server = request.getfixturevalue("redis_server")
        async with redis.asyncio.Redis(host=server.host, port=server.port) as client:
            assert (await client.pttl(key)) > 600_000  # ttl 60 s + the 600 s window
    clock.advance(659)  # local and disk follow the injected clock
    assert await create(**CHAT, cache=SWR) == first
    assert openai_server.count(PATH) == 1
    await stale_cache.await_refreshes()
    assert openai_server.count(PATH) == 2


def test_a_sync_client_is_served_stale_and_refreshed_on_the_loop_thread(
    stale_cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer, clock: FakeClock
) -> None:
    create = stale_cache.cached("completion")(client.chat.completions.create)
    first = create(**CHAT, cache={**SWR, **SIE})
    clock.advance(61)
    assert create(**CHAT, cache={**SWR, **SIE}) == first  # served at once, stale
    stale_cache.wait_refreshes()
    assert openai_server.count(PATH) == 2
    fresh = create(**CHAT, cache={**SWR, **SIE})
    assert type(fresh) is ChatCompletion and fresh.id != first.id
    clock.advance(61)
    openai_server.fail_next(503, times=10)
    assert create(**CHAT, cache=SIE) == fresh  # the provider failed: the held entry answers
    assert stale_cache.stats().stale_on_error == 1
