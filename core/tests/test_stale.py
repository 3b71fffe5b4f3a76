"""Stale-while-revalidate and stale-if-error (issue 18): controls and their validation,
the write path keeping entries for TTL + the stale window, stale hits served at once
with one background refresh per key, held entries served when the provider raises,
``s-maxage``/``no-cache`` precedence, streams, per-item embeddings, events and stats;
on asyncio and trio, and through the sync face (whose refreshes run on its loop
thread). Time moves through an injected clock; the SDK cases are in
``tests/test_stale_openai.py``."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest
from cachekit import Cache, ConfigurationError
from cachekit.testing import FakeClock

from ._support import (
    Provider,
    Recorder,
    StreamRecorder,
    embedding_response,
    plugin_manager,
    stream_chunks,
)

pytestmark = pytest.mark.anyio

REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SWR = {"stale-while-revalidate": 600}
SIE = {"stale-if-error": 600}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def cache(clock: FakeClock, recorder: Recorder) -> Any:
    cache = Cache(type="spy", plugins=plugin_manager(recorder), clock=clock, ttl=60)
    yield cache
    await cache.aclose()


class Failing:
    """A provider that answers until ``down`` is set, then raises what it is told."""

    def __init__(self) -> None:
        self.inner = Provider()
        self.down: BaseException | None = None

    async def __call__(self, **kwargs: Any) -> Any:
        if self.down is not None:
            self.inner.calls.append(kwargs)
            raise self.down
        return await self.inner.acall(**kwargs)


async def concurrently(n: int, create: Any, controls: dict[str, Any]) -> list[Any]:
    """``n`` concurrent identical calls; their answers."""
    results: list[Any] = []

    async def caller() -> None:
        results.append(await create(**REQ, cache=controls))

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(caller)
    return results


# -- controls ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "controls",
    [
        {"stale-while-revalidate": -1},
        {"stale-if-error": "10"},
        {"stale-while-revalidate": True},
        {"stale-if-error": float("nan")},
        {"stale-while-revalidate": float("inf")},
    ],
)
async def test_bad_stale_controls_raise_before_any_io(cache: Cache, controls: Any) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    with pytest.raises(ValueError, match="stale"):
        await create(**REQ, cache=controls)
    assert provider.count == 0
    assert cache.backend.ops == []  # type: ignore[attr-defined]


def test_bad_cache_defaults_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="stale_while_revalidate"):
        Cache(stale_while_revalidate=-0.5)
    with pytest.raises(ConfigurationError, match="stale_if_error"):
        Cache(stale_if_error="soon")


async def test_the_backend_keeps_an_entry_for_ttl_plus_the_largest_window(cache: Cache) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    await create(**REQ, cache={"stale-while-revalidate": 30, "stale-if-error": 90})
    assert cache.backend.ttls() == [150]  # type: ignore[attr-defined]  # 60 + max(30, 90)
    raw = cache.backend.raw()[cache.get_cache_key(**REQ)]  # type: ignore[attr-defined]
    header = orjson.loads(raw.split(b"\n", 1)[0])
    assert header[2] - header[1] == 60  # freshness is still the TTL
    assert header[4]["stale_s"] == 90


async def test_without_a_window_nothing_changes_on_the_write_path(cache: Cache) -> None:
    create = cache.cached("acompletion")(Provider().acall)
    await create(**REQ)
    assert cache.backend.ttls() == [60]  # type: ignore[attr-defined]


# -- stale-while-revalidate -----------------------------------------------------------


async def test_a_stale_entry_is_served_at_once_and_refreshed_once(
    cache: Cache, clock: FakeClock, recorder: Recorder
) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    first = await create(**REQ, cache=SWR)
    clock.advance(61)
    results = await concurrently(200, create, SWR)
    assert results == [first] * 200  # every caller got the stale answer at once
    await cache.await_refreshes()
    assert provider.count == 2  # the first call and exactly one refresh
    fresh = await create(**REQ, cache=SWR)
    assert fresh["id"] == "chatcmpl-2"
    stats = cache.stats()
    assert (stats.stale_hits, stats.refreshes, stats.refresh_failures) == (200, 1, 0)
    assert stats.hits == 201 and stats.fresh_hits == 1
    stale_hits = [e for e in recorder.of("hit") if e.stale == "while-revalidate"]
    assert len(stale_hits) == 200 and stale_hits[0].age_s == 61
    assert [e.refresh for e in recorder.of("store")] == [False, True]


async def test_a_failed_refresh_leaves_the_stale_entry_and_reports_it(
    cache: Cache, clock: FakeClock, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    provider = Failing()
    create = cache.cached("acompletion")(provider)
    first = await create(**REQ, cache=SWR)
    clock.advance(61)
    provider.down = RuntimeError("provider is down")
    assert await create(**REQ, cache=SWR) == first
    await cache.await_refreshes()
    assert await create(**REQ, cache=SWR) == first  # still served; tries again
    await cache.await_refreshes()
    stats = cache.stats()
    assert (stats.refreshes, stats.refresh_failures) == (0, 2)
    errors = recorder.of("error")
    assert [e.refresh for e in errors] == [True, True]
    assert isinstance(errors[0].error, RuntimeError)
    warnings = [r for r in caplog.records if "background refresh" in r.getMessage()]
    assert len(warnings) == 1


async def test_outside_the_window_a_stale_entry_is_a_plain_miss(
    cache: Cache, clock: FakeClock
) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    await create(**REQ, cache={"stale-while-revalidate": 10})
    clock.advance(70.5)
    answer = await create(**REQ, cache={"stale-while-revalidate": 10})
    assert answer["id"] == "chatcmpl-2" and provider.count == 2
    assert cache.stats().stale_hits == 0


async def test_the_writers_window_bounds_a_greedier_reader(cache: Cache, clock: FakeClock) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    await create(**REQ, cache={"stale-while-revalidate": 10})
    clock.advance(65)
    answer = await create(**REQ, cache={"stale-while-revalidate": 600})
    assert answer["id"] == "chatcmpl-1"  # within the writer's 10 s
    await cache.await_refreshes()
    clock.advance(80)  # the refreshed entry was written with 600 s
    assert (await create(**REQ, cache=SWR))["id"] == "chatcmpl-2"


async def test_cache_defaults_apply_and_a_call_may_turn_them_off(clock: FakeClock) -> None:
    provider = Provider()
    async with Cache(clock=clock, ttl=60, stale_while_revalidate=600) as cache:
        create = cache.cached("acompletion")(provider.acall)
        first = await create(**REQ)
        clock.advance(61)
        assert await create(**REQ) == first
        await cache.await_refreshes()
        assert provider.count == 2
        clock.advance(61)
        off = await create(**REQ, cache={"stale-while-revalidate": 0})
        assert off["id"] == "chatcmpl-3"


async def test_s_maxage_and_no_cache_win_over_staleness(cache: Cache, clock: FakeClock) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    await create(**REQ, cache={**SWR, **SIE})
    clock.advance(61)
    older = await create(**REQ, cache={**SWR, "s-maxage": 30})
    assert older["id"] == "chatcmpl-2"  # too old for s-maxage: a miss, never stale
    forced = await create(**REQ, cache={**SWR, "no-cache": True})
    assert forced["id"] == "chatcmpl-3"
    await cache.await_refreshes()
    assert provider.count == 3 and cache.stats().stale_hits == 0


async def test_a_stale_stream_is_replayed_and_refreshed(cache: Cache, clock: FakeClock) -> None:
    streams = StreamRecorder()
    create = cache.cached("acompletion")(streams.agen)
    first = [chunk async for chunk in create(**REQ, stream=True, cache=SWR)]
    clock.advance(61)
    replayed = [chunk async for chunk in create(**REQ, stream=True, cache=SWR)]
    assert replayed == first == stream_chunks(1)
    await cache.await_refreshes()
    assert streams.count == 2
    fresh = [chunk async for chunk in create(**REQ, stream=True, cache=SWR)]
    assert fresh == stream_chunks(2)


async def test_stale_embedding_items_are_served_and_refreshed_together(
    cache: Cache, clock: FakeClock
) -> None:
    provider = Provider(embedding_response)
    embed = cache.cached("aembedding")(provider.acall)
    await embed(model="e", input=["a", "b"], cache=SWR)
    clock.advance(61)
    mixed = await embed(model="e", input=["a", "b", "c"], cache=SWR)
    assert [d["embedding"] for d in mixed["data"]] == [
        d["embedding"] for d in embedding_response({"input": ["a", "b", "c"]}, 0)["data"]
    ]
    assert provider.calls[1]["input"] == ["c"]  # only the missing item waits for the provider
    await cache.await_refreshes()
    assert [c["input"] for c in provider.calls] == [["a", "b"], ["c"], ["a", "b"]]
    assert cache.stats().refreshes == 1
    await embed(model="e", input=["a", "b", "c"], cache=SWR)
    assert provider.count == 3  # all fresh now


# -- stale-if-error -----------------------------------------------------------------------


async def test_a_held_entry_answers_when_the_provider_raises(
    cache: Cache, clock: FakeClock, recorder: Recorder
) -> None:
    provider = Failing()
    create = cache.cached("acompletion")(provider)
    first = await create(**REQ, cache=SIE)
    clock.advance(61)
    provider.down = TimeoutError("provider timed out")
    results = await concurrently(50, create, SIE)
    assert results == [first] * 50
    stats = cache.stats()
    assert stats.stale_on_error == 50 and stats.hits == 0 and stats.misses == 51
    served = [e for e in recorder.of("hit") if e.stale == "if-error"]
    assert len(served) == 50 and isinstance(served[0].error, TimeoutError)
    clock.advance(600)  # past the window: the error is raised
    with pytest.raises(TimeoutError):
        await create(**REQ, cache=SIE)


async def test_within_stale_if_error_a_working_provider_is_called(
    cache: Cache, clock: FakeClock
) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    await create(**REQ, cache=SIE)
    clock.advance(61)
    assert (await create(**REQ, cache=SIE))["id"] == "chatcmpl-2"
    assert cache.stats().stale_on_error == 0


async def test_a_stream_request_falls_back_to_the_held_stream(
    cache: Cache, clock: FakeClock
) -> None:
    calls = 0

    async def flaky(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ConnectionError("provider down")
        return _aiter(stream_chunks(1))

    create = cache.cached("acompletion")(flaky)
    first = [c async for c in await create(**REQ, stream=True, cache=SIE)]
    clock.advance(61)
    held = [c async for c in await create(**REQ, stream=True, cache=SIE)]
    assert held == first == stream_chunks(1)


async def test_held_embedding_items_answer_a_failed_call(cache: Cache, clock: FakeClock) -> None:
    provider = Failing()
    provider.inner = Provider(embedding_response)
    embed = cache.cached("aembedding")(provider)
    first = await embed(model="e", input=["a", "b"], cache=SIE)
    clock.advance(61)
    provider.down = RuntimeError("down")
    again = await embed(model="e", input=["b", "a"], cache=SIE)
    assert [d["embedding"] for d in again["data"]] == [
        first["data"][1]["embedding"],
        first["data"][0]["embedding"],
    ]
    assert cache.stats().stale_on_error == 2
    with pytest.raises(RuntimeError):  # an item with no held entry: the error is raised
        await embed(model="e", input=["a", "z"], cache=SIE)


# -- compatibility and lifecycle -----------------------------------------------------------


async def test_entries_written_before_staleness_keep_working(
    cache: Cache, clock: FakeClock
) -> None:
    provider = Provider()
    create = cache.cached("acompletion")(provider.acall)
    await create(**REQ)  # no window: no freshness bound recorded beyond the TTL
    assert (await create(**REQ, cache=SWR))["id"] == "chatcmpl-1"
    clock.advance(61)
    assert (await create(**REQ, cache=SWR))["id"] == "chatcmpl-2"  # never served stale


async def test_litellms_get_cache_never_answers_stale(cache: Cache, clock: FakeClock) -> None:
    await cache.async_add_cache({"answer": 1}, **REQ, cache=SWR)
    assert await cache.async_get_cache(**REQ, cache=SWR) == {"answer": 1}
    clock.advance(61)  # no provider to refresh with: past its TTL it is a miss
    assert await cache.async_get_cache(**REQ, cache={**SWR, **SIE}) is None
    assert cache.stats().stale_hits == 0


async def test_aclose_cancels_a_running_refresh(clock: FakeClock) -> None:
    started, gate = anyio.Event(), anyio.Event()
    calls = 0

    async def slow(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            started.set()
            await gate.wait()  # never set: only cancellation ends it
        return {"n": calls}

    cache = Cache(clock=clock, ttl=60)
    create = cache.cached("acompletion")(slow)
    await create(**REQ, cache=SWR)
    clock.advance(61)
    assert await create(**REQ, cache=SWR) == {"n": 1}
    with anyio.fail_after(5):
        await started.wait()  # the refresh is running
    await cache.aclose()  # returns: the refresh was cancelled and awaited
    assert cache.stats().refreshes == 0


async def _aiter(items: list[Any]) -> Any:
    for item in items:
        yield item


# -- the sync face ----------------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_the_sync_face_refreshes_on_its_loop_thread(clock: FakeClock, anyio_backend: str) -> None:
    import threading

    threads: list[str] = []

    def provider(**kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return {"n": len(threads)}

    with Cache(clock=clock, ttl=60) as cache:
        create = cache.cached("completion")(provider)
        assert create(**REQ, cache=SWR) == {"n": 1}
        clock.advance(61)
        assert create(**REQ, cache=SWR) == {"n": 1}
        cache.wait_refreshes()
        assert create(**REQ, cache=SWR) == {"n": 2}
        assert threads[0] == threading.current_thread().name
        assert threads[1] != threads[0]  # a worker of the loop thread, not the caller
        assert cache.stats().refreshes == 1
