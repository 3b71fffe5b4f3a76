"""Issue 15's core defects, each pinned by a test that failed before the fix: cancelled
probes, callers' deadlines and the breaker; hostile entries; the breaker never disabling
the L1 or single-flight; caller errors never feeding the breaker; overflowing numbers;
non-finite timestamps; waiters' own copies. The backend is a real LocalBackend with one
injected fault (see ``_support.FaultyBackend``); the Redis plugin's tests repeat the
outage cases against a real server."""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest
from cachekit import Cache, EntryError, TieredBackend
from cachekit.testing import FakeClock

from ._support import FaultyBackend, Provider, Recorder, chat_response, plugin_manager

pytestmark = pytest.mark.anyio

REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def make(recorder: Recorder, clock: FakeClock, **options: Any) -> Cache:
    options.setdefault("breaker", {"threshold": 3, "cooldown": 5, "clock": clock})
    return Cache(type="faulty", plugins=plugin_manager(recorder), clock=clock, **options)


def faulty(cache: Cache) -> FaultyBackend:
    backend = cache.backend
    if isinstance(backend, TieredBackend):
        backend = backend.l2
    assert isinstance(backend, FaultyBackend)
    return backend


# -- 1. the breaker and cancellation ---------------------------------------------------------


async def test_a_cancelled_half_open_probe_does_not_keep_the_circuit_open(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock, timeout=None)
    await cache.async_add_cache(chat_response("m", 1), **REQ)
    faulty(cache).fail("raise", "get")
    for _ in range(3):
        assert await cache.async_get_cache(**REQ) is None
    assert cache._engine.breaker.blocked()
    clock.advance(5)  # due for a probe
    faulty(cache).fail("hang", "get")
    with anyio.move_on_after(0):  # the caller's deadline cancels the probe
        await cache.async_get_cache(**REQ)
    faulty(cache).heal()
    clock.advance(10)  # the next probe is due: it must be allowed and succeed
    assert await cache.async_get_cache(**REQ) == chat_response("m", 1)
    assert not cache._engine.breaker.is_open


async def test_operations_cut_short_by_the_callers_deadline_open_the_circuit(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock, timeout=1.0)
    faulty(cache).fail("hang", "get")
    for _ in range(3):
        with anyio.move_on_after(0):  # shorter than the cache's own timeout
            await cache.async_get_cache(**REQ)
    assert cache._engine.breaker.blocked()
    calls = faulty(cache).calls["get"]
    assert await cache.async_get_cache(**REQ) is None  # skipped without I/O
    assert faulty(cache).calls["get"] == calls


# -- 2. hostile entries ------------------------------------------------------------------------


def _deep_entry(depth: int) -> bytes:
    return b'["cachekit/2",1000000.0,null,"kv",null]\n' + b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [2000, 200_000])
async def test_a_deeply_nested_entry_is_a_miss_not_a_crash(
    recorder: Recorder, clock: FakeClock, depth: int
) -> None:
    cache = make(recorder, clock)
    key = "cachekit:v2:default:deep"
    await cache.backend.set(key, _deep_entry(depth), None)
    assert await cache.aget("deep") is None
    assert isinstance(recorder.of("error")[-1].error, EntryError)
    # and a wrapped call whose entry is that deep calls the provider instead of failing
    await cache.backend.set(cache.get_cache_key(**REQ), _deep_entry(depth), None)
    provider = Provider()
    assert await cache.cached("acompletion")(provider.acall)(**REQ) == chat_response(
        "gpt-4o-mini", 1
    )
    assert provider.count == 1


async def test_storing_a_value_nested_too_deep_is_a_value_error(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock)
    value: Any = []
    for _ in range(1000):
        value = [value]
    with pytest.raises(ValueError, match="nested"):
        await cache.aset("k", value)
    assert faulty(cache).calls["set"] == 0


# -- 5. an open circuit keeps the L1 and single-flight -----------------------------------------


async def test_an_open_circuit_still_serves_the_l1_and_single_flights(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock, l1_ttl=60.0)
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    held = await acompletion(**REQ)  # stored in the remote and the L1
    faulty(cache).fail("raise")
    other = {**REQ, "messages": [{"role": "user", "content": "other"}]}
    for _ in range(3):
        await acompletion(**other)  # failures open the circuit
    assert cache._engine.breaker.blocked()
    count = provider.count
    assert await acompletion(**REQ) == held  # from the L1, not the provider
    assert provider.count == count

    gate = anyio.Event()

    async def slow(**kwargs: Any) -> Any:
        await gate.wait()
        return provider(**kwargs)

    slow_call = cache.cached("acompletion")(slow)
    fresh = {**REQ, "messages": [{"role": "user", "content": "fresh"}]}
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(lambda: slow_call(**fresh))
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert provider.count == count + 1  # 50 identical calls, one provider call


# -- 6. a caller's bad key is the caller's error, not the backend's ------------------------------


async def test_an_unencodable_key_is_a_value_error_and_never_feeds_the_breaker(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock)
    for _ in range(5):
        with pytest.raises(ValueError, match="surrogate"):
            await cache.aset("a\ud800b", 1)
    with pytest.raises(ValueError, match="bytes long"):
        await cache.aget("k" * 2000)
    with pytest.raises(ValueError, match="non-empty"):
        await cache.aget("")
    assert faulty(cache).total_calls == 0
    assert not cache._engine.breaker.is_open
    await cache.aset("fine", 1)
    assert await cache.aget("fine") == 1


# -- 13. numbers too big, zero timeouts, bad breaker settings --------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: Cache(ttl=10**400),
        lambda: Cache(timeout=10**400),
        lambda: Cache(timeout=0),
        lambda: Cache(breaker={"threshold": 0}),
        lambda: Cache(breaker={"cooldown": -1}),
        lambda: Cache(breaker={"cooldown": 5, "max_cooldown": 1}),
    ],
)
def test_bad_numbers_in_settings_are_value_errors(build: Any) -> None:
    with pytest.raises(ValueError, match=r"ttl|timeout|threshold|cooldown"):
        build()


async def test_overflowing_lifetimes_in_calls_are_value_errors() -> None:
    cache = Cache()
    with pytest.raises(ValueError, match="too large"):
        await cache.aset("k", 1, ttl=10**400)
    with pytest.raises(ValueError, match="too large"):
        await cache.async_get_cache(**REQ, cache={"s-maxage": 10**400})
    with pytest.raises(ValueError, match="too large"):
        await cache.cached("acompletion")(Provider().acall)(**REQ, cache={"ttl": 10**400})


# -- 14. timestamps and floats ----------------------------------------------------------------------


@pytest.mark.parametrize("created", [b"NaN", b"Infinity", b"1e999", b"-1e999"])
async def test_an_entry_with_a_non_finite_timestamp_is_a_miss(
    recorder: Recorder, clock: FakeClock, created: bytes
) -> None:
    cache = make(recorder, clock)
    raw = b'["cachekit/2",' + created + b',null,"kv",null]\n"stale"'
    await cache.backend.set("cachekit:v2:default:k", raw, None)
    assert await cache.aget("k", response_type=None) is None
    assert await cache.async_get_cache(cache_key="k", cache={"s-maxage": 10}) is None
    assert isinstance(recorder.of("error")[0].error, EntryError)


async def test_stored_floats_are_standard_json(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock)
    await cache.aset("k", {"nan": math.nan, "inf": math.inf, "x": 0.5})
    raw = await cache.backend.get("cachekit:v2:default:k")
    assert raw is not None and b"NaN" not in raw and b"Infinity" not in raw
    assert await cache.aget("k") == {"nan": None, "inf": None, "x": 0.5}


# -- 15. every waiter gets its own result -----------------------------------------------------------


async def test_a_waiter_mutating_its_result_is_never_seen_by_another(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock)
    gate = anyio.Event()
    provider = Provider()

    async def slow(**kwargs: Any) -> Any:
        await gate.wait()
        return provider(**kwargs)

    call = cache.cached("acompletion")(slow)
    results: list[Any] = []

    async def caller() -> None:
        result = await call(**REQ)
        results.append(result)
        result["choices"].clear()  # one caller mangles its copy

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert provider.count == 1
    assert len({id(r) for r in results}) == 10
    assert await call(**REQ) == chat_response("gpt-4o-mini", 1)  # the stored one is intact
