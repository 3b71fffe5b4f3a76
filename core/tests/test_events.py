"""Observer events: hit/miss/store/error with the DESIGN fields, immutable, sync or
async observers, a raising observer never breaks the call, observers registered at
run time take part at once, and no credentials anywhere."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import pytest
from cachekit import BackendError, Cache, CacheEvent, hookimpl
from cachekit.testing import FakeClock

from ._support import (
    SECRET,
    AsyncRecorder,
    FaultyBackend,
    Provider,
    Recorder,
    SpyBackend,
    plugin_manager,
)

pytestmark = pytest.mark.anyio

REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "seed": 7}


class Span:
    """Brackets a piece of work so an event's duration can be checked for sense
    (at least 0, at most the whole call), not for speed."""

    def __enter__(self) -> Span:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def check_common(event: CacheEvent, cache: Cache, kind: str, span: Span, **request: Any) -> None:
    assert event.kind == kind
    assert event.call_type == "completion"
    assert event.key == cache.get_cache_key(**request)
    assert event.namespace == cache.namespace
    assert event.backend == cache.type
    assert isinstance(event.duration_s, float)
    assert 0 <= event.duration_s <= span.seconds


@pytest.mark.parametrize("face", ["async", "sync"])
async def test_hit_miss_store_events_carry_the_design_fields(clock: FakeClock, face: str) -> None:
    recorder = Recorder()
    cache = Cache(type="spy", plugins=plugin_manager(recorder), clock=clock, ttl=60)
    provider = Provider()
    with Span() as span:
        if face == "async":
            call = cache.cached("acompletion")(provider.acall)
            await call(**REQ)
            clock.advance(3.0)
            await call(**REQ)
        else:
            sync_call = cache.cached("completion")(provider)
            sync_call(**REQ)
            clock.advance(3.0)
            sync_call(**REQ)

    miss, store, hit = recorder.events
    check_common(miss, cache, "miss", span, **REQ)
    check_common(store, cache, "store", span, **REQ)
    check_common(hit, cache, "hit", span, **REQ)
    assert (miss.age_s, miss.error) == (None, None)
    assert store.ttl_s == 60.0
    assert hit.age_s == 3.0
    assert hit.error is None
    assert hit.similarity is None


async def test_events_report_the_per_call_namespace(clock: FakeClock) -> None:
    recorder = Recorder()
    cache = Cache(type="spy", plugins=plugin_manager(recorder), clock=clock)
    call = cache.cached("acompletion")(Provider().acall)
    await call(**REQ, cache={"namespace": "team-a"})
    assert {e.namespace for e in recorder.events} == {"team-a"}
    assert {e.key for e in recorder.events} == {
        cache.get_cache_key(**REQ, cache={"namespace": "team-a"})
    }


async def test_error_events_carry_the_error(clock: FakeClock) -> None:
    recorder = Recorder()
    cache = Cache(type="faulty", plugins=plugin_manager(recorder), clock=clock)
    assert isinstance(cache.backend, FaultyBackend)
    cache.backend.fail("raise")
    with Span() as span:
        await cache.cached("acompletion")(Provider().acall)(**REQ)

    errors = recorder.of("error")
    assert len(errors) == 2  # the read and the write
    for event in errors:
        check_common(event, cache, "error", span, **REQ)
        assert event.backend == "faulty"
        assert isinstance(event.error, BackendError)
        assert "injected failure" in str(event.error)


async def test_error_event_for_an_unkeyable_request(clock: FakeClock) -> None:
    recorder = Recorder()
    cache = Cache(type="spy", plugins=plugin_manager(recorder), clock=clock)
    with Span() as span:
        await cache.cached("acompletion")(Provider().acall)(**REQ, tools=object())
    (event,) = recorder.events
    assert event.kind == "error"
    assert event.call_type == "completion"
    assert 0 <= event.duration_s <= span.seconds
    assert event.namespace == "default"


async def test_events_are_immutable(clock: FakeClock) -> None:
    recorder = Recorder()
    cache = Cache(type="spy", plugins=plugin_manager(recorder), clock=clock)
    await cache.cached("acompletion")(Provider().acall)(**REQ)
    event = recorder.events[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.key = "other"  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        event.extra = 1  # type: ignore[attr-defined]


# -- sync and async observers ---------------------------------------------------------------


@pytest.mark.parametrize("backend", ["spy", "faulty"])  # inline, and a remote-style one
async def test_async_observers_are_awaited(clock: FakeClock, backend: str) -> None:
    recorder = AsyncRecorder()
    cache = Cache(type=backend, plugins=plugin_manager(recorder), clock=clock)
    call = cache.cached("acompletion")(Provider().acall)
    await call(**REQ)
    await call(**REQ)
    assert recorder.kinds == ["miss", "store", "hit"]
    assert cache.stats().errors == 0


@pytest.mark.parametrize("backend", ["spy", "faulty"])  # run inline, and on the loop thread
def test_async_observers_from_plain_sync_code(clock: FakeClock, backend: str) -> None:
    recorder = AsyncRecorder()
    cache = Cache(type=backend, plugins=plugin_manager(recorder), clock=clock)
    call = cache.cached("completion")(Provider())
    call(**REQ)
    call(**REQ)
    assert recorder.kinds == ["miss", "store", "hit"]
    assert cache.stats().errors == 0


@pytest.mark.parametrize("backend", ["spy", "faulty"])
async def test_sync_face_inside_an_async_task(
    clock: FakeClock, backend: str, anyio_backend: str, request: pytest.FixtureRequest
) -> None:
    """A sync wrapped call made from async code (a blocking call, but it happens)."""
    recorder = Recorder()
    cache = Cache(type=backend, plugins=plugin_manager(recorder, AsyncRecorder()), clock=clock)
    call = cache.cached("completion")(Provider())
    call(**REQ)
    call(**REQ)
    assert recorder.kinds == ["miss", "store", "hit"]
    assert cache.stats().errors == 0


class Raising:
    def __init__(self, *, is_async: bool) -> None:
        self.is_async = is_async

    @hookimpl
    def cachekit_on_miss(self, event: CacheEvent) -> Any:
        if self.is_async:

            async def fail() -> None:
                raise RuntimeError("observer bug (async)")

            return fail()
        raise RuntimeError("observer bug")


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("face", ["async", "sync"])
async def test_a_raising_observer_is_reported_and_never_breaks_the_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, is_async: bool, face: str
) -> None:
    recorder = Recorder()
    # registered after the recorder: pluggy calls it first
    cache = Cache(
        type="spy", plugins=plugin_manager(recorder, Raising(is_async=is_async)), clock=clock
    )
    provider = Provider()
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        if face == "async":
            result = await cache.cached("acompletion")(provider.acall)(**REQ)
        else:
            result = cache.cached("completion")(provider)(**REQ)
    assert result == provider._make(REQ, 1)
    assert recorder.kinds == ["miss", "store"]  # the other observer still saw it
    stats = cache.stats()
    assert stats.errors == 1
    assert (stats.misses, stats.stores) == (1, 1)
    assert any("raised" in r.getMessage() and r.exc_info for r in caplog.records)
    assert cache.get_cache(**REQ) == result


class ArgumentFree:
    """pluggy lets an implementation take fewer arguments than the spec."""

    def __init__(self) -> None:
        self.count = 0

    @hookimpl
    def cachekit_on_miss(self) -> None:
        self.count += 1


async def test_an_observer_may_take_no_arguments(clock: FakeClock) -> None:
    observer = ArgumentFree()
    cache = Cache(type="spy", plugins=plugin_manager(observer), clock=clock)
    await cache.cached("acompletion")(Provider().acall)(**REQ)
    assert observer.count == 1
    assert cache.stats().errors == 0


async def test_observers_registered_at_run_time_see_the_next_call(clock: FakeClock) -> None:
    cache = Cache(type="spy", plugins=plugin_manager(), clock=clock)
    call = cache.cached("acompletion")(Provider().acall)
    await call(**REQ)

    recorder = Recorder()
    cache.plugins.register(recorder)
    await call(**REQ)
    assert recorder.kinds == ["hit"]

    cache.plugins.unregister(recorder)
    await call(**REQ)
    assert recorder.kinds == ["hit"]


# -- no credentials anywhere ----------------------------------------------------------------


def all_text(event: CacheEvent) -> str:
    return repr(event) + "".join(repr(getattr(event, f.name)) for f in dataclasses.fields(event))


@pytest.mark.parametrize("face", ["async", "sync"])
async def test_no_credentials_in_keys_events_entries_or_logs(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, face: str
) -> None:
    recorder = Recorder()
    cache = Cache(type="spy", plugins=plugin_manager(recorder), clock=clock)
    provider = Provider()
    secret_req = {**REQ, "api_key": SECRET, "extra_headers": {"Authorization": SECRET}}
    with caplog.at_level(logging.DEBUG):
        if face == "async":
            call = cache.cached("acompletion")(provider.acall)
            await call(**secret_req)
            await call(**secret_req)
            await cache.async_add_cache({"x": 1}, **{**secret_req, "seed": 8})
        else:
            sync_call = cache.cached("completion")(provider)
            sync_call(**secret_req)
            sync_call(**secret_req)
            cache.add_cache({"x": 1}, **{**secret_req, "seed": 8})

    assert provider.calls[0]["api_key"] == SECRET  # the provider still gets it
    assert cache.get_cache_key(**secret_req) == cache.get_cache_key(**REQ)
    assert SECRET not in cache.get_cache_key(**secret_req)
    backend = cache.backend
    assert isinstance(backend, SpyBackend)
    for key, raw in backend.raw().items():
        assert SECRET not in key
        assert SECRET.encode() not in raw
    assert recorder.kinds == ["miss", "store", "hit", "store"]
    for event in recorder.events:
        assert SECRET not in all_text(event)
    assert SECRET not in caplog.text


async def test_no_credentials_in_error_events(clock: FakeClock) -> None:
    recorder = Recorder()
    cache = Cache(type="faulty", plugins=plugin_manager(recorder), clock=clock)
    assert isinstance(cache.backend, FaultyBackend)
    cache.backend.fail("raise")
    await cache.cached("acompletion")(Provider().acall)(**REQ, api_key=SECRET)
    cache.backend.heal()
    await cache.cached("acompletion")(Provider().acall)(**REQ, api_key=SECRET, tools=object())
    assert len(recorder.of("error")) == 3
    for event in recorder.events:
        assert SECRET not in all_text(event)


# -- stats() ------------------------------------------------------------------------------------


async def test_stats_counts_ratio_and_as_dict(clock: FakeClock) -> None:
    cache = Cache(type="faulty", plugins=plugin_manager(), clock=clock)
    assert cache.stats().hit_ratio == 0.0
    call = cache.cached("acompletion")(Provider().acall)
    await call(**REQ)
    await call(**REQ)
    await call(**REQ)
    await call(**{**REQ, "seed": 1})
    backend = cache.backend
    assert isinstance(backend, FaultyBackend)
    backend.fail("raise", "get")
    await call(**REQ)  # an error, then a miss (the write still works)

    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stores, stats.errors) == (2, 3, 3, 1)
    assert stats.hit_ratio == 2 / 5
    doc = stats.as_dict()
    assert {k: doc[k] for k in ("hits", "misses", "stores", "errors", "hit_ratio")} == {
        "hits": 2,
        "misses": 3,
        "stores": 3,
        "errors": 1,
        "hit_ratio": 2 / 5,
    }
    assert isinstance(doc["latency"], dict)
    await call(**REQ)
    assert stats.misses == 3  # a snapshot does not move
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.hits = 0  # type: ignore[misc]


async def test_stats_latency_percentiles_of_key_value_operations(clock: FakeClock) -> None:
    cache = Cache(type="spy", plugins=plugin_manager(), clock=clock)
    await cache.aset("k", {"v": 1})
    for _ in range(3):
        await cache.aget("k")
    latency = cache.stats().latency
    assert latency["get"]["count"] == 3.0
    assert latency["set"]["count"] == 1.0
    for values in latency.values():
        assert 0 <= values["p50"] <= values["p90"] <= values["p99"] <= values["max"]
    assert cache.stats().as_dict()["latency"] == latency


async def test_stats_latency_of_wrapped_calls(clock: FakeClock) -> None:
    cache = Cache(type="spy", plugins=plugin_manager(), clock=clock)
    call = cache.cached("acompletion")(Provider().acall)
    await call(**REQ)
    await call(**REQ)
    latency = cache.stats().latency
    assert sum(v["count"] for v in latency.values()) >= 3  # two reads and a write
