"""``cached(call_type)``: put a cache in front of any provider function.

The wrapped function is called with OpenAI-style keyword arguments: a real SDK
method (``client.chat.completions.create``), ``litellm.acompletion``, a partial, a
callable object, or a function of yours. Per call: validate and remove
``cache={...}`` (``ValueError`` before any I/O), derive the key, return the cached
result on a hit, otherwise call through (once, however many identical calls are in
flight) and store before returning. Streams and per-item embeddings have their own
paths. Nothing the cache does can break the call: every cache failure turns it into
an uncached call plus an error event (and one WARNING per kind).

Sync or async, and the types hits are rebuilt into: :mod:`cachekit._llm._types`; the
steps of one call: :mod:`cachekit._llm._wrapped_call` (a local hit: :mod:`._hits`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from cachekit._llm._codec import Codec
from cachekit._llm._info import info_of
from cachekit._llm._stale import revalidate, revalidate_sync
from cachekit._llm._streams import (
    RecordingAsyncStream,
    RecordingStream,
    ReplayAsyncStream,
    ReplayStream,
    is_async_stream,
    is_sync_stream,
)
from cachekit._llm._types import CallKind, call_kind
from cachekit._llm._wrapped_call import ITEMS_STORED, MISS, WrappedCall
from cachekit._policy._controls import CacheControls
from cachekit._policy._keys import LLM_FAMILIES, call_family
from cachekit.exceptions import ConfigurationError

if TYPE_CHECKING:
    from cachekit._cache import Cache

__all__ = ["KeyParams", "check_call_type", "wrap"]

CacheSource = Callable[[], "Cache | None"]

_perf = time.perf_counter


class _Kind:
    """What calling the function does; learned from its results when unknown."""

    __slots__ = ("kind", "verified")

    def __init__(self, kind: CallKind) -> None:
        self.kind = kind
        self.verified = kind != "unknown"


KeyParams = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None


def check_call_type(call_type: object) -> str:
    """``call_type`` if it names a call family (or its async twin), else ``ConfigurationError``."""
    if not isinstance(call_type, str) or call_family(call_type) not in LLM_FAMILIES:
        known = ", ".join(sorted(LLM_FAMILIES | {f"a{family}" for family in LLM_FAMILIES}))
        raise ConfigurationError(f"unknown call type {call_type!r}; known call types: {known}")
    return call_type


def wrap(
    source: CacheSource,
    call_type: str,
    fn: Callable[..., Any],
    response_type: type[Any] | None = None,
    chunk_type: type[Any] | None = None,
    key_params: KeyParams = None,
) -> Callable[..., Any]:
    """Build the wrapper for ``fn`` (see the module docstring). ``key_params`` (a mapping,
    or a function returning one, called per call) are parameters that go into every key
    but are not passed to ``fn`` — e.g. the client's ``base_url``."""
    check_call_type(call_type)
    if key_params is not None and not (callable(key_params) or isinstance(key_params, Mapping)):
        raise ConfigurationError(f"key_params must be a mapping or a callable, got {key_params!r}")
    codec = Codec(fn, response_type, chunk_type)
    state = _Kind(call_kind(fn))

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> WrappedCall | None:
        raw = kwargs.pop("cache", None)
        controls = CacheControls.parse(raw)  # ValueError before any I/O, cached or not
        cache = source()
        if cache is None:
            return None
        calls = cache._calls
        if not calls.enabled(call_type, kwargs, controls):
            return None
        streaming = state.kind in ("agen", "gen") or kwargs.get("stream") is True
        extra = key_params() if callable(key_params) else key_params
        return WrappedCall(
            calls, codec, call_type, fn, args, kwargs, raw, controls, streaming, extra
        )

    if state.kind == "agen":

        @functools.wraps(fn)
        def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(args, kwargs)
            return fn(*args, **kwargs) if call is None else _async_generator(call)

        return agen_wrapper

    if state.kind == "async":

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin(args, kwargs)
            if call is None:
                return await fn(*args, **kwargs)
            return await _acall(call)

        return async_wrapper

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        call = begin(args, kwargs)
        if call is None:
            return fn(*args, **kwargs)
        if state.kind == "async":  # learned: this "sync" function returns awaitables
            return _acall(call)
        if not state.verified:
            return _first_call(call, state)
        return _call(call, state)

    return sync_wrapper


def _provider(call: WrappedCall, kwargs: dict[str, Any] | None = None) -> Any:
    """Call the provider for a result the cache will store (its latency is recorded)."""
    call.started()
    return call.fn(*call.args, **(call.kwargs if kwargs is None else kwargs))


async def _invoke(call: WrappedCall, kwargs: dict[str, Any] | None = None) -> Any:
    result = _provider(call, kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


# -- the async face --------------------------------------------------------------------
async def _acall(call: WrappedCall) -> Any:
    if call.items is not None:
        return await _aitems(call)
    call.ticket = call.calls.flights.ticket()  # before the read: see _singleflight
    if (value := call.lookup_now()) is MISS:  # a local hit needs no await
        value = await call.lookup(call.request)
    if value is not MISS:
        if call.stale_at is not None:
            revalidate(call, _acall)
        return call.remember(ReplayAsyncStream(value) if call.streaming else value)
    request = call.request
    if request is None:  # no key: an uncached call
        return await _invoke(call)
    try:
        if call.streaming:
            return call.remember(await _astream_result(call, await _invoke(call)))

        async def work() -> Any:
            result = await _invoke(call)
            await call.save(result)
            return result

        lead = _across_processes(call, work)
        return call.remember(await call.calls.flights.run(request.key, lead, call.ticket))
    except Exception as exc:  # stale-if-error: a held entry answers instead
        value = await call.held_answer(exc)
        if value is MISS:
            raise
        return call.remember(ReplayAsyncStream(value) if call.streaming else value)


def _across_processes(
    call: WrappedCall,
    work: Callable[[], Any],
    run: Callable[[Coroutine[Any, Any, Any]], Any] | None = None,
    lock: tuple[str, Callable[[], Awaitable[Any]]] | None = None,
) -> Callable[[], Any]:
    """``work`` inside the distributed flight with ``single_flight="distributed"`` (``run``
    runs the sync face's lock operations; ``lock``: a lock name and re-read other than the
    request's). Not for ``no-cache`` (fresh each) or ``no-store`` (nothing to re-read)."""
    distributed = call.calls.distributed
    request = call.request
    controls = call.controls
    if distributed is None or controls.no_cache or controls.no_store:
        return work
    if lock is None:
        if request is None:
            return work
        lock = (request.key, call.recheck)
    args = (call_family(call.call_type), lock[0], MISS, lock[1], work)
    if run is None:
        return functools.partial(distributed.run, *args)
    return functools.partial(distributed.run_sync, run, *args)


async def _astream_result(call: WrappedCall, result: Any) -> Any:
    """A provider's answer to a streaming request: recorded if it is a stream."""
    if is_async_stream(result):
        return RecordingAsyncStream(result, call.save_stream)
    if is_sync_stream(result):  # a sync stream from an async call: passed on uncached
        return result
    await call.save(result)
    return result


async def _aitems(call: WrappedCall) -> Any:
    """Per-item embeddings: identical sets of missing items share one provider call
    (per process, and across processes with ``single_flight="distributed"``); the
    caller that makes it stores the items before its flight ends."""
    flights = call.calls.flights
    ticket = flights.ticket()  # before the read: see _singleflight
    if not await call.lookup_items():
        return await _invoke(call)
    if call.stale_at is not None:
        revalidate(call, _acall)
    kwargs = call.missing_kwargs()
    response = None
    result: Any = MISS
    if kwargs is not None:

        async def work() -> Any:
            nonlocal result
            fresh = await _invoke(call, kwargs)
            result = await _finish_items(call, fresh, store=True)  # before the lock's release
            return fresh

        key = call.items_flight_key()
        lock = (call.items_lock_name(key), call.items_stored)
        try:
            response = await flights.run(key, _across_processes(call, work, lock=lock), ticket)
        except Exception as exc:  # stale-if-error: held items answer instead
            if not await call.held_items(exc):
                raise
        if response is ITEMS_STORED:  # another process stored them while this one waited
            return await _aitems(call)
    if result is MISS:
        result = await _finish_items(call, response, store=False)
    if result is None:
        result = await _invoke(call)
    return _items_info(call, result, response is None)


async def _finish_items(call: WrappedCall, response: Any, store: bool) -> Any:
    """The whole answer (storing the provider's items if ``store``). Fail-open: an
    answer that cannot be split per item is passed on uncached (``None`` if none)."""
    try:
        return await call.finish_items(response, store=store)
    except Exception as exc:
        await call.calls.engine.error(call_family(call.call_type), "", _perf(), exc, "write")
        return response


def _items_info(call: WrappedCall, result: Any, all_cached: bool) -> Any:
    calls = call.calls
    try:
        key = calls.key_of(call.key_kwargs)
    except Exception:
        return result
    call.info = info_of(all_cached, key, calls.engine.namespace_of)
    return call.remember(result)


async def _async_generator(call: WrappedCall) -> AsyncIterator[Any]:
    """An async generator function's wrapper: the lookup happens on first iteration."""
    value = await call.lookup()
    if value is not MISS:
        if call.stale_at is not None:
            revalidate(call, _async_generator)
        stream: Any = ReplayAsyncStream(value)
    elif call.request is None:
        stream = call.fn(*call.args, **call.kwargs)
    else:
        stream = RecordingAsyncStream(_provider(call), call.save_stream)
    async with contextlib.aclosing(stream):  # a consumer that stops early closes both
        async for chunk in stream:
            yield chunk


# -- the sync face ---------------------------------------------------------------------
def _first_call(call: WrappedCall, state: _Kind) -> Any:
    """A function not yet seen returning: call it without a cache read and let its
    result say whether it is async (the caller then gets an awaitable)."""
    result = _provider(call)
    if inspect.isawaitable(result):
        state.kind = "async"
        state.verified = True
        return _afinish_first(call, result)
    state.kind = "sync"
    state.verified = True
    run = call.calls.engine.run
    if run(call.prepare()) is None:
        return result
    return call.remember(_sync_result(call, result))


async def _afinish_first(call: WrappedCall, pending: Any) -> Any:
    result = await pending
    if await call.prepare() is None:
        return result
    if call.streaming:
        return call.remember(await _astream_result(call, result))
    await call.save(result)
    return call.remember(result)


def _sync_result(call: WrappedCall, result: Any) -> Any:
    """Store (or record, for a stream) a fresh result of a sync call."""
    run = call.calls.engine.run
    if call.streaming and is_sync_stream(result):
        return RecordingStream(result, lambda chunks: run(call.save_stream(chunks)))
    run(call.save(result))
    return result


def _call(call: WrappedCall, state: _Kind) -> Any:
    run = call.calls.engine.run
    if call.items is not None:
        return _items(call, run, state)
    call.ticket = call.calls.sync_flights.ticket()  # before the read: see _singleflight
    if (value := call.lookup_now()) is MISS:  # a local hit needs no event loop
        value = run(call.lookup(call.request))
    if value is not MISS:
        if call.stale_at is not None:
            revalidate_sync(call, lambda again: _call(again, state))
        return call.remember(ReplayStream(value) if call.streaming else value)
    request = call.request
    if request is None:
        return call.fn(*call.args, **call.kwargs)
    try:
        result = _call_through(call, request.key)
    except Exception as exc:  # stale-if-error: a held entry answers instead
        value = run(call.held_answer(exc))
        if value is MISS:
            raise
        return call.remember(ReplayStream(value) if call.streaming else value)
    if inspect.isawaitable(result):  # a "sync" function that returned an awaitable: learn
        state.kind = "async"
        return _afinish_first(call, result)
    return call.remember(_sync_result(call, result) if call.streaming else result)


def _call_through(call: WrappedCall, key: str) -> Any:
    """A sync miss: call the provider (once per key in flight) and store its answer."""
    if call.streaming:
        return _provider(call)

    def work() -> Any:
        fresh = _provider(call)
        return fresh if inspect.isawaitable(fresh) else _sync_result(call, fresh)

    lead = _across_processes(call, work, call.calls.engine.run)
    return call.calls.sync_flights.run(key, lead, call.ticket)


def _items(call: WrappedCall, run: Callable[[Coroutine[Any, Any, Any]], Any], state: _Kind) -> Any:
    """:func:`_aitems` for the sync face (the provider called in this thread)."""
    flights = call.calls.sync_flights
    ticket = flights.ticket()  # before the read: see _singleflight
    if not run(call.lookup_items()):
        return call.fn(*call.args, **call.kwargs)
    if call.stale_at is not None:
        revalidate_sync(call, lambda again: _call(again, state))
    kwargs = call.missing_kwargs()
    response = None
    result: Any = MISS
    if kwargs is not None:

        def work() -> Any:
            nonlocal result
            fresh = _provider(call, kwargs)
            result = run(_finish_items(call, fresh, store=True))
            return fresh

        key = call.items_flight_key()
        lock = (call.items_lock_name(key), call.items_stored)
        try:
            response = flights.run(key, _across_processes(call, work, run, lock), ticket)
        except Exception as exc:  # stale-if-error: held items answer instead
            if not run(call.held_items(exc)):
                raise
        if response is ITEMS_STORED:
            return _items(call, run, state)
    if result is MISS:
        result = run(_finish_items(call, response, store=False))
    if result is None:
        result = call.fn(*call.args, **call.kwargs)
    return _items_info(call, result, response is None)
