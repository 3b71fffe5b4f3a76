"""Single-flight: concurrent identical misses make one provider call; the result or
the exception goes to every caller; a cancelled leader does not strand its followers.
Async tasks (asyncio and trio) and sync callers in threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from cachekit import Cache
from cachekit._llm import _singleflight
from cachekit.testing import FakeClock

from ._support import FaultyBackend, Provider, chat_response, embedding_response, plugin_manager

pytestmark = pytest.mark.anyio

N = 8
REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def cache() -> Cache:
    return Cache(plugins=plugin_manager(), clock=FakeClock())


class GatedProvider:
    """An async provider whose calls wait for ``gate``; ``plan[n]`` (call number n)
    may be "forever" (never returns) or "raise"."""

    def __init__(self, plan: dict[int, str] | None = None) -> None:
        self.count = 0
        self.gate = anyio.Event()
        self.plan = plan or {}
        self.error = RuntimeError("rate limited")

    async def __call__(self, **kwargs: Any) -> Any:
        self.count += 1
        n = self.count
        if self.plan.get(n) == "forever":
            await anyio.Event().wait()
        await self.gate.wait()
        if self.plan.get(n) == "raise":
            raise self.error
        return chat_response(kwargs["model"], n)


# -- async ---------------------------------------------------------------------------------


async def test_concurrent_identical_misses_make_one_provider_call(cache: Cache) -> None:
    provider = GatedProvider()
    acompletion = cache.cached("acompletion")(provider)
    results: list[Any] = []

    async def caller() -> None:
        results.append(await acompletion(**REQ))

    async with anyio.create_task_group() as tg:
        for _ in range(N):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()  # every caller is waiting on the one flight
        assert provider.count == 1
        provider.gate.set()

    assert results == [chat_response("gpt-4o-mini", 1)] * N
    assert provider.count == 1
    assert await acompletion(**REQ) == results[0]  # stored once, and it hits
    stats = cache.stats()
    assert (stats.misses, stats.stores, stats.hits) == (N, 1, 1)


async def test_different_requests_do_not_wait_for_each_other(cache: Cache) -> None:
    provider = GatedProvider()
    acompletion = cache.cached("acompletion")(provider)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: acompletion(**REQ))
        tg.start_soon(lambda: acompletion(**REQ, temperature=1))
        await anyio.wait_all_tasks_blocked()
        assert provider.count == 2
        provider.gate.set()


async def test_the_same_exception_reaches_every_caller(cache: Cache) -> None:
    provider = GatedProvider(plan={1: "raise"})
    acompletion = cache.cached("acompletion")(provider)
    errors: list[BaseException] = []

    async def caller() -> None:
        try:
            await acompletion(**REQ)
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(N):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        provider.gate.set()

    assert len(errors) == N
    # the leader gets the provider's exception; every follower its own copy, chained to it
    # (one caller's traceback never grows with the others')
    assert sum(e is provider.error for e in errors) == 1
    assert all(type(e) is type(provider.error) and e.args == provider.error.args for e in errors)
    assert all(e is provider.error or e.__cause__ is provider.error for e in errors)
    assert provider.count == 1
    assert await acompletion(**REQ) == chat_response("gpt-4o-mini", 2)  # nothing was stored


async def test_cancelling_the_leader_does_not_strand_the_followers(cache: Cache) -> None:
    provider = GatedProvider(plan={1: "forever"})
    provider.gate.set()
    acompletion = cache.cached("acompletion")(provider)
    leader_scope = anyio.CancelScope()
    leader: dict[str, Any] = {}
    results: list[Any] = []

    async def lead() -> None:
        with leader_scope:
            leader["result"] = await acompletion(**REQ)

    async def follow() -> None:
        results.append(await acompletion(**REQ))

    async with anyio.create_task_group() as tg:
        tg.start_soon(lead)
        await anyio.wait_all_tasks_blocked()
        for _ in range(N - 1):
            tg.start_soon(follow)
        await anyio.wait_all_tasks_blocked()
        assert provider.count == 1
        leader_scope.cancel()

    assert leader_scope.cancelled_caught
    assert "result" not in leader
    assert provider.count == 2  # one follower took over; the others waited for it
    assert results == [chat_response("gpt-4o-mini", 2)] * (N - 1)


async def test_a_cancelled_follower_does_not_disturb_the_flight(cache: Cache) -> None:
    provider = GatedProvider()
    acompletion = cache.cached("acompletion")(provider)
    scope = anyio.CancelScope()
    results: list[Any] = []

    async def cancelled_follower() -> None:
        with scope:
            await acompletion(**REQ)

    async def caller() -> None:
        results.append(await acompletion(**REQ))

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(cancelled_follower)
        tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        provider.gate.set()

    assert provider.count == 1
    assert results == [chat_response("gpt-4o-mini", 1)] * 2


async def test_a_late_follower_with_a_stale_miss_does_not_call_again() -> None:
    cache = Cache(type="faulty", plugins=plugin_manager(), clock=FakeClock())
    backend = cache.backend
    assert isinstance(backend, FaultyBackend)
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    backend.hold_reads = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: acompletion(**REQ))  # its read is held: a slow reply
        await anyio.wait_all_tasks_blocked()
        held, backend.hold_reads = backend.hold_reads, None
        await acompletion(**REQ)  # a second identical call misses, leads, stores
        held.set()  # the first one's (stale) miss arrives now
    assert provider.count == 1


async def test_concurrent_identical_embedding_misses_make_one_call(cache: Cache) -> None:
    calls: list[Any] = []
    gate = anyio.Event()

    async def aembedding(**kwargs: Any) -> Any:
        calls.append(kwargs)
        await gate.wait()
        return embedding_response(kwargs, len(calls))

    wrapped = cache.cached("aembedding")(aembedding)
    results: list[Any] = []

    async def caller() -> None:
        results.append(await wrapped(model="e", input=["a", "b"]))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert len(calls) == 1
    assert results == [results[0]] * 3 and results[0] is not results[1]  # own copies
    assert cache.stats().stores == 2  # each item stored once, by the leader
    assert await wrapped(model="e", input=["b", "a"]) is not None
    assert len(calls) == 1  # and both items hit afterwards


# -- sync callers in threads ------------------------------------------------------------------


class CountingEvent(threading.Event):
    def __init__(self, cond: threading.Condition) -> None:
        super().__init__()
        self._count_cond = cond
        self.waiters = 0

    def wait(self, timeout: float | None = None) -> bool:
        with self._count_cond:
            self.waiters += 1
            self._count_cond.notify_all()
        return super().wait(timeout)


class FlightThreading:
    """Stands in for the ``threading`` module inside ``cachekit._llm._singleflight`` so the
    test can tell when follower threads are waiting on a flight (no sleeps)."""

    Lock = staticmethod(threading.Lock)

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.events: list[CountingEvent] = []

    def Event(self) -> CountingEvent:  # mirrors threading.Event
        event = CountingEvent(self.cond)
        self.events.append(event)
        return event

    def wait_for_followers(self, n: int) -> None:
        """Block until the newest flight has ``n`` waiting followers."""
        with self.cond:
            ok = self.cond.wait_for(
                lambda: bool(self.events) and self.events[-1].waiters >= n, timeout=30
            )
        assert ok, "followers never arrived (deadlock guard)"


@pytest.fixture
def flights(monkeypatch: pytest.MonkeyPatch) -> FlightThreading:
    shim = FlightThreading()
    monkeypatch.setattr(_singleflight, "threading", shim)
    return shim


def run_threads(n: int, target: Callable[[], Any]) -> list[Any]:
    """Run ``target`` in ``n`` threads; return what each returned or raised."""
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            out[i] = target()
        except BaseException as exc:  # KeyboardInterrupt included: it is the leader's fate
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


class SyncProvider:
    """A sync provider; call ``n`` waits until ``waiters[n]`` followers wait on the flight,
    then returns, or raises ``fate[n]``."""

    def __init__(self, flights: FlightThreading, waiters: dict[int, int], fate: dict[int, Any]):
        self.flights = flights
        self.waiters = waiters
        self.fate = fate
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> Any:
        with self.lock:
            self.count += 1
            n = self.count
        self.flights.wait_for_followers(self.waiters.get(n, 0))
        if n in self.fate:
            raise self.fate[n]
        return chat_response(kwargs["model"], n)


def test_threads_make_one_provider_call(cache: Cache, flights: FlightThreading) -> None:
    provider = SyncProvider(flights, waiters={1: N - 1}, fate={})
    completion = cache.cached("completion")(provider)
    results = run_threads(N, lambda: completion(**REQ))
    assert results == [chat_response("gpt-4o-mini", 1)] * N
    assert provider.count == 1
    assert completion(**REQ) == results[0]
    assert provider.count == 1


def test_threads_all_get_the_same_exception(cache: Cache, flights: FlightThreading) -> None:
    error = RuntimeError("provider down")
    provider = SyncProvider(flights, waiters={1: N - 1}, fate={1: error})
    completion = cache.cached("completion")(provider)
    results = run_threads(N, lambda: completion(**REQ))
    assert sum(r is error for r in results) == 1
    assert all(type(r) is RuntimeError and r.args == error.args for r in results)
    assert all(r is error or r.__cause__ is error for r in results)
    assert provider.count == 1


def test_an_interrupted_leader_thread_does_not_strand_the_followers(
    cache: Cache, flights: FlightThreading
) -> None:
    interrupt = KeyboardInterrupt()
    # call 1 (the leader) is interrupted once all followers wait; a follower takes over
    # and answers once the remaining followers wait on its flight
    provider = SyncProvider(flights, waiters={1: N - 1, 2: N - 2}, fate={1: interrupt})
    completion = cache.cached("completion")(provider)
    results = run_threads(N, lambda: completion(**REQ))
    assert results.count(interrupt) == 1
    assert [r for r in results if r is not interrupt] == [chat_response("gpt-4o-mini", 2)] * (N - 1)
    assert provider.count == 2


def test_threads_with_identical_embedding_batches_make_one_call(
    cache: Cache, flights: FlightThreading
) -> None:
    calls: list[Any] = []

    def embedding(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if kwargs["input"] == ["a", "b"]:
            flights.wait_for_followers(N - 1)  # every other thread waits on this flight
        return embedding_response(kwargs, len(calls))

    wrapped = cache.cached("embedding")(embedding)
    wrapped(model="e", input=["warm-up"])  # the wrapper learns the function is sync
    results = run_threads(N, lambda: wrapped(model="e", input=["a", "b"]))
    assert len(calls) == 2 and calls[1]["input"] == ["a", "b"]
    assert results == [results[0]] * N
    assert cache.stats().stores == 3  # "warm-up", then "a" and "b" once each
