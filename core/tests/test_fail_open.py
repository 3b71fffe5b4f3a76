"""Fail-open: a backend that raises, hangs or returns garbage, a corrupted entry, or a
misbehaving hook or override turns the wrapped call into an uncached call with an error
event and a counter; the circuit breaker stops hammering a dead backend and recovers
by itself. The fault backend is a real LocalBackend with one injected fault."""

from __future__ import annotations

from typing import Any

import pytest
from cachekit import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    Cache,
    EntryError,
    TieredBackend,
    hookimpl,
)
from cachekit._policy._envelope import encode_entry
from cachekit.testing import FakeClock

from ._support import (
    ChatCompletion,
    FaultyBackend,
    Provider,
    Recorder,
    StreamRecorder,
    chat_model_response,
    chat_response,
    embedding_response,
    plugin_manager,
    stream_chunks,
)

pytestmark = pytest.mark.anyio

REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANSWER_1 = chat_response("gpt-4o-mini", 1)


def faulty(cache: Cache) -> FaultyBackend:
    backend = cache.backend
    assert isinstance(backend, FaultyBackend)
    return backend


def make(recorder: Recorder, clock: FakeClock, type: str = "faulty", **options: Any) -> Cache:
    return Cache(type=type, plugins=plugin_manager(recorder), clock=clock, **options)


# -- a backend that raises, hangs, or answers garbage --------------------------------------


BACKENDS = ["faulty", "faulty-inline"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_raising_backend_async(recorder: Recorder, clock: FakeClock, backend: str) -> None:
    cache = make(recorder, clock, backend)
    faulty(cache).fail("raise")
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)

    assert await acompletion(**REQ) == ANSWER_1
    assert provider.count == 1
    assert recorder.kinds == ["error", "miss", "error"]  # the read, then the write
    assert all(isinstance(e.error, BackendError) for e in recorder.of("error"))
    assert cache.stats().errors == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_raising_backend_sync(recorder: Recorder, clock: FakeClock, backend: str) -> None:
    cache = make(recorder, clock, backend)
    faulty(cache).fail("raise")
    provider = Provider()
    completion = cache.cached("completion")(provider)
    assert completion(**REQ) == ANSWER_1
    assert provider.count == 1
    assert cache.stats().errors == 2
    assert [type(e.error) for e in recorder.of("error")] == [BackendError, BackendError]


async def test_a_failing_write_only(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock)
    faulty(cache).fail("raise", "set")
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    assert await acompletion(**REQ) == ANSWER_1
    assert recorder.kinds == ["miss", "error"]
    faulty(cache).heal()
    await acompletion(**REQ)
    assert await acompletion(**REQ) == chat_response("gpt-4o-mini", 2)
    assert provider.count == 2


async def test_hanging_backend_is_bounded_by_the_timeout(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock, timeout=0.05)
    faulty(cache).fail("hang")
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    assert await acompletion(**REQ) == ANSWER_1
    errors = recorder.of("error")
    # One timeout per call: after the read timed out, the write is not attempted.
    assert [type(e.error) for e in errors] == [BackendTimeoutError]
    assert isinstance(errors[0].error, TimeoutError)
    assert cache.stats().errors == 1
    assert faulty(cache).calls["set"] == 0


def test_hanging_backend_sync(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock, timeout=0.05)
    faulty(cache).fail("hang", "get")
    provider = Provider()
    completion = cache.cached("completion")(provider)
    assert completion(**REQ) == ANSWER_1
    assert [type(e.error) for e in recorder.of("error")] == [BackendTimeoutError]
    assert recorder.kinds == ["error", "miss"]  # a backend that just timed out is not written to


async def test_garbage_bytes_are_a_miss(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock)
    faulty(cache).fail("garbage", "get", "get_many")
    provider = Provider()
    assert await cache.cached("acompletion")(provider.acall)(**REQ) == ANSWER_1
    assert recorder.kinds == ["error", "miss", "store"]
    assert isinstance(recorder.events[0].error, EntryError)
    assert cache.stats().errors == 1

    faulty(cache).heal()  # the fresh result was stored
    assert await cache.async_get_cache(**REQ) == ANSWER_1


def test_garbage_bytes_are_a_miss_sync(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock)
    faulty(cache).fail("garbage", "get", "get_many")
    provider = Provider()
    assert cache.cached("completion")(provider)(**REQ) == ANSWER_1
    assert recorder.kinds == ["error", "miss", "store"]
    assert isinstance(recorder.events[0].error, EntryError)
    faulty(cache).heal()
    assert cache.get_cache(**REQ) == ANSWER_1


async def test_failing_batch_read_for_embeddings(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock)
    faulty(cache).fail("raise", "get_many")
    provider = Provider(embedding_response)
    aembedding = cache.cached("aembedding")(provider.acall)
    result = await aembedding(model="e", input=["a", "b"])
    assert result == embedding_response({"model": "e", "input": ["a", "b"]}, 1)
    assert provider.calls == [{"model": "e", "input": ["a", "b"]}]
    assert isinstance(recorder.of("error")[0].error, BackendError)
    faulty(cache).heal()
    await aembedding(model="e", input=["b", "a"])
    assert provider.count == 1  # the items were stored despite the failed read


async def test_stream_over_a_raising_backend(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock)
    faulty(cache).fail("raise")
    provider = StreamRecorder()
    acompletion = cache.cached("acompletion")(provider.agen)
    chunks = [chunk async for chunk in acompletion(**REQ, stream=True)]
    assert chunks == stream_chunks(1)
    assert recorder.kinds == ["error", "miss", "error"]


# -- corrupted, truncated, foreign entries ----------------------------------------------------

GOOD = encode_entry({"x": 1}, call_type="completion", created_at=FakeClock().now, ttl=None)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x00\x01\x02 definitely not json", id="random-bytes"),
        pytest.param(GOOD[: len(GOOD) // 2], id="truncated"),
        pytest.param(b'{"value": {"x": 1}}', id="foreign-json"),
        pytest.param(GOOD.replace(b"cachekit/2", b"cachekit/9"), id="newer-format"),
        pytest.param(GOOD + b"trailing", id="trailing-garbage"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_corrupted_entry_is_a_miss_and_is_replaced(
    recorder: Recorder, clock: FakeClock, raw: bytes
) -> None:
    cache = make(recorder, clock, "local")
    key = cache.get_cache_key(**REQ)
    await cache.backend.set(key, raw, None)
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)

    assert await acompletion(**REQ) == ANSWER_1
    assert recorder.kinds == ["error", "miss", "store"]
    assert isinstance(recorder.events[0].error, EntryError)
    assert await acompletion(**REQ) == ANSWER_1  # the fresh entry replaced the bad one
    assert provider.count == 1


@pytest.mark.parametrize("face", ["async", "sync"])
async def test_stored_value_that_does_not_fit_the_response_type(
    recorder: Recorder, clock: FakeClock, face: str
) -> None:
    """A well-formed entry whose value is not a ChatCompletion (another tool wrote it, or
    an older shape): a miss and an error event, never a crash."""
    cache = make(recorder, clock, "local")
    await cache.async_add_cache({"unexpected": "shape"}, **REQ)
    recorder.events.clear()
    provider = Provider(chat_model_response)
    if face == "async":
        call = cache.cached("acompletion", response_type=ChatCompletion)(provider.acall)
        result = await call(**REQ)
        again = await call(**REQ)
    else:
        sync_call = cache.cached("completion", response_type=ChatCompletion)(provider)
        result = sync_call(**REQ)
        again = sync_call(**REQ)
    assert isinstance(result, ChatCompletion)
    assert provider.count == 1
    assert again == result  # the fresh result replaced the misfit
    errors = recorder.of("error")
    assert len(errors) == 1
    assert isinstance(errors[0].error, EntryError)


async def test_stored_stream_that_does_not_fit(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock, "local")
    await cache.async_add_cache({"not": "a list of chunks"}, **REQ, stream=True)
    provider = StreamRecorder()
    acompletion = cache.cached("acompletion")(provider.agen)
    chunks = [chunk async for chunk in acompletion(**REQ, stream=True)]
    assert chunks == stream_chunks(1)
    assert provider.count == 1
    assert isinstance(recorder.of("error")[0].error, EntryError)


# -- misbehaving hooks and overrides ----------------------------------------------------------


class RaisingHooks:
    def __init__(self, which: str) -> None:
        self.which = which

    @hookimpl
    def cachekit_key_params(self, call_type: str, params: dict[str, Any]) -> Any:
        if self.which == "key_params":
            raise RuntimeError("key hook bug")
        return None

    @hookimpl
    def cachekit_entry_ttl(self, call_type: str, params: dict[str, Any], result: Any) -> Any:
        if self.which == "entry_ttl":
            raise RuntimeError("ttl hook bug")
        return None


@pytest.mark.parametrize("which", ["key_params", "entry_ttl"])
async def test_raising_hooks_fail_open(clock: FakeClock, which: str) -> None:
    recorder = Recorder()
    cache = Cache(plugins=plugin_manager(recorder, RaisingHooks(which)), clock=clock)
    provider = Provider()
    assert await cache.cached("acompletion")(provider.acall)(**REQ) == ANSWER_1
    assert provider.count == 1
    assert "error" in recorder.kinds
    assert cache.stats().errors >= 1


async def test_raising_overrides_fail_open(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(recorder, clock, "local")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("user override bug")

    cache.get_cache = broken  # type: ignore[method-assign]
    cache.add_cache = broken  # type: ignore[method-assign]
    provider = Provider()
    assert await cache.cached("acompletion")(provider.acall)(**REQ) == ANSWER_1
    assert cache.cached("completion")(provider)(**REQ) == chat_response("gpt-4o-mini", 2)
    assert recorder.kinds == ["error", "error", "error", "error"]


# -- the circuit breaker ----------------------------------------------------------------------


def breaker_cache(recorder: Recorder, clock: FakeClock) -> Cache:
    return make(recorder, clock, breaker={"threshold": 3, "cooldown": 5, "clock": clock})


async def test_breaker_opens_skips_io_probes_and_recovers(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = breaker_cache(recorder, clock)
    backend = faulty(cache)
    backend.fail("raise")
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)

    await acompletion(**REQ)  # get fails (1), set fails (2)
    await acompletion(**REQ)  # get fails (3): open; the set is skipped
    assert backend.total_calls == 3
    for _ in range(5):
        assert await acompletion(**REQ) == chat_response("gpt-4o-mini", provider.count)
    assert backend.total_calls == 3  # open: no more backend calls
    assert provider.count == 7
    skipped = recorder.of("error")[-1].error
    assert isinstance(skipped, BackendUnavailableError)
    assert "circuit open" in str(skipped)

    clock.advance(4)
    await acompletion(**REQ)
    assert backend.total_calls == 3  # still cooling down

    clock.advance(1)
    await acompletion(**REQ)  # one probe; it fails: open again, for twice as long
    assert backend.total_calls == 4
    clock.advance(5)
    await acompletion(**REQ)
    assert backend.total_calls == 4

    backend.heal()
    clock.advance(5)
    errors = cache.stats().errors
    await acompletion(**REQ)  # the probe succeeds: closed; the write goes through
    assert backend.calls["get"] == 4
    assert backend.calls["set"] == 2
    assert cache.stats().errors == errors
    served = provider.count
    assert await acompletion(**REQ) == chat_response("gpt-4o-mini", served)  # a hit
    assert provider.count == served


def test_breaker_sync_face(recorder: Recorder, clock: FakeClock) -> None:
    cache = breaker_cache(recorder, clock)
    backend = faulty(cache)
    backend.fail("raise")
    provider = Provider()
    completion = cache.cached("completion")(provider)
    for _ in range(4):
        completion(**REQ)
    assert backend.total_calls == 3
    backend.heal()
    clock.advance(5)
    completion(**REQ)
    completion(**REQ)
    assert provider.count == 5  # recovered: the fifth result was stored and hit
    assert backend.total_calls == 6


async def test_breaker_counts_timeouts(recorder: Recorder, clock: FakeClock) -> None:
    cache = make(
        recorder, clock, timeout=0.05, breaker={"threshold": 2, "cooldown": 5, "clock": clock}
    )
    backend = faulty(cache)
    backend.fail("hang")
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**REQ)  # two timeouts: open
    await acompletion(**REQ)  # no I/O, no waiting
    assert backend.total_calls == 2
    assert provider.count == 2
    backend.heal()
    clock.advance(5)
    await acompletion(**REQ)
    assert await acompletion(**REQ) == chat_response("gpt-4o-mini", 3)
    assert provider.count == 3


def test_bad_breaker_settings_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="breaker"):
        Cache(plugins=plugin_manager(), breaker={"treshold": 3})


# -- closing, and the L1 tier in front of a failing backend ---------------------------------


async def test_aclose_is_not_skipped_by_an_open_circuit(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = breaker_cache(recorder, clock)
    faulty(cache).fail("raise")
    call = cache.cached("acompletion")(Provider().acall)
    for _ in range(3):
        await call(**REQ)
    assert cache._engine.breaker.blocked()
    await faulty(cache).inner.set("k", b"v", None)
    await cache.aclose()  # must reach the backend although the circuit is open
    assert len(faulty(cache).inner) == 0


async def test_open_circuit_calls_the_provider_without_touching_the_backend(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = breaker_cache(recorder, clock)
    faulty(cache).fail("raise")
    provider = Provider()
    call = cache.cached("acompletion")(provider.acall)
    for _ in range(3):
        await call(**REQ)
    before = faulty(cache).total_calls
    errors = cache.stats().errors
    await call(**REQ)
    assert faulty(cache).total_calls == before  # no I/O, not even a key lookup
    assert cache.stats().errors == errors + 1  # but counted, and reported
    assert provider.count == 4
    with pytest.raises(ValueError, match="cache"):
        await call(**REQ, cache={"ttl": -1})  # controls are still validated


async def test_l1_tier_serves_hits_while_the_backend_fails(
    recorder: Recorder, clock: FakeClock
) -> None:
    cache = make(recorder, clock, l1_ttl=30.0, l1_max_size=10)
    tiered = cache.backend
    assert isinstance(tiered, TieredBackend)
    l2 = tiered.l2
    assert isinstance(l2, FaultyBackend)
    provider = Provider()
    call = cache.cached("acompletion")(provider.acall)
    first = await call(**REQ)
    l2.fail("raise")
    assert await call(**REQ) == first  # answered by the L1, the failing L2 never asked
    assert provider.count == 1
    assert l2.calls["get"] == 1  # only the first (miss) lookup reached the L2
    assert cache.stats().errors == 0


def test_l1_options_are_validated(recorder: Recorder, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="l1_ttl"):
        make(recorder, clock, l1_ttl=-1)
    with pytest.raises(ValueError, match="in-process"):
        Cache(type="local", l1_ttl=5)
