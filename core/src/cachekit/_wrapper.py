"""``cached(call_type)``: put a cache in front of any provider function.

The wrapped function is called with OpenAI-style keyword arguments. Per call:
validate and remove ``cache={...}`` (``ValueError`` before any I/O), derive the
key, return the cached result on a hit, otherwise call through (once, however
many identical calls are in flight) and store before returning. Streams and
per-item embeddings have their own paths. Nothing the cache does can break the
call: every cache failure turns it into an uncached call plus an error event.

The I/O steps are async methods; the sync wrappers run the same steps through
the cache's sync face and call the provider directly.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cachekit._controls import CacheControls
from cachekit._embeddings import ITEM_META, EmbeddingPlan, _item_id, per_item_inputs
from cachekit._envelope import rebuild
from cachekit._keys import call_family
from cachekit._llm import MISS, Request
from cachekit._streams import (
    STREAM_META,
    is_async_stream,
    is_sync_stream,
    record_async,
    record_sync,
    replay_async,
    replay_sync,
)
from cachekit.exceptions import EntryError

if TYPE_CHECKING:
    from cachekit._cache import Cache

__all__ = ["wrap"]

CacheSource = Callable[[], "Cache | None"]


def _model_type(candidate: Any) -> type[Any] | None:
    return (
        candidate if isinstance(candidate, type) and hasattr(candidate, "model_validate") else None
    )


def _annotated_model(fn: Callable[..., Any]) -> type[Any] | None:
    """The wrapped function's return annotation, when it is a pydantic model class."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return None
    return _model_type(hints.get("return"))


def _is(kind: Callable[[Any], bool], fn: Callable[..., Any]) -> bool:
    """``kind(fn)``, also for a callable object whose ``__call__`` is of that kind."""
    return kind(fn) or (not inspect.isroutine(fn) and kind(type(fn).__call__))


class _Call:
    """One wrapped call: the request, the controls, and the steps shared by both faces."""

    __slots__ = (
        "args",
        "cache",
        "call_type",
        "controls",
        "fn",
        "items",
        "key_kwargs",
        "kwargs",
        "model",
        "plan",
        "request",
        "requests",
        "streaming",
    )

    def __init__(
        self,
        cache: Cache,
        call_type: str,
        fn: Callable[..., Any],
        model: type[Any] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        raw_controls: Any,
        generator: bool = False,
    ) -> None:
        self.cache = cache
        self.call_type = call_type
        self.fn = fn
        self.model = model
        self.args = args
        self.kwargs = kwargs
        self.controls = CacheControls.parse(raw_controls)
        key_kwargs = kwargs if raw_controls is None else {**kwargs, "cache": raw_controls}
        if args:  # positional arguments are part of the request too
            key_kwargs = {**key_kwargs, "$args": list(args)}
        self.key_kwargs = key_kwargs
        self.request: Request | None = None
        self.items = per_item_inputs(kwargs) if call_family(call_type) == "embedding" else None
        self.plan: EmbeddingPlan | None = None
        self.requests: list[Request] = []
        # a generator function's result is a stream whatever the kwargs say
        self.streaming = generator or kwargs.get("stream") is True

    # -- whole-request entries -------------------------------------------------
    async def lookup(self) -> tuple[bool, Any, dict[str, Any] | None]:
        """``(hit, value, meta)``; a hit's value is already rebuilt into the caller's type
        (a list of chunks for a stream), and a stored value that does not fit is a miss."""
        start = time.perf_counter()
        request = self.cache._prepare(self.call_type, self.key_kwargs, self.controls)
        if isinstance(request, Exception):
            await self.cache._notify("error", call_family(self.call_type), "", start, error=request)
            return False, None, None
        self.request = request
        if self.streaming:
            request.meta = dict(STREAM_META)
        hit, value, meta = await self.cache._fetch(request)
        if not hit:
            return False, None, meta
        try:
            if self.streaming:
                if not isinstance(value, list):
                    raise TypeError(f"a stored stream is a list of chunks, not {type(value)}")
                value = [rebuild(chunk, self.model) for chunk in value]
            else:
                value = rebuild(value, self.model)
        except Exception as exc:  # a foreign or outdated value: a miss, never a crash
            error = EntryError(f"stored value does not fit the call: {type(exc).__name__}: {exc}")
            await self.cache._notify("error", request.call_type, request.key, start, error=error)
            return False, None, meta
        return True, value, meta

    async def save(self, result: Any) -> None:
        if self.request is not None:
            await self.cache._save(self.request, result)

    # -- per-item embeddings ---------------------------------------------------
    async def lookup_items(self) -> bool:
        """Fetch every item; ``False`` when keys cannot be derived (call through)."""
        assert self.items is not None
        plan = self.plan = EmbeddingPlan(self.items)
        for item in plan.unique:
            request = self.cache._prepare(
                self.call_type, {**self.key_kwargs, "input": [item]}, self.controls
            )
            if isinstance(request, Exception):
                await self.cache._notify(
                    "error", call_family(self.call_type), "", time.perf_counter(), error=request
                )
                return False
            request.meta = dict(ITEM_META)
            self.requests.append(request)
        if not self.controls.no_cache:
            for item, value in zip(
                plan.unique, await self.cache._fetch_many(self.requests), strict=True
            ):
                if value is not None:
                    plan.accept(item, value)
        return True

    def missing_kwargs(self) -> dict[str, Any] | None:
        """Provider kwargs for the missing items, or ``None`` when nothing is missing."""
        assert self.plan is not None
        missing = self.plan.missing()
        if not missing:
            return None
        return {**self.kwargs, "input": missing}

    async def finish_items(self, response: Any) -> Any:
        """Store the provider's items and return the merged response."""
        assert self.plan is not None
        plan = self.plan
        if response is None:
            return rebuild(plan.merge(None), self.model)
        missing = plan.missing()
        doc, fresh = EmbeddingPlan.split(response, missing)
        by_id = {
            _item_id(item): request
            for item, request in zip(plan.unique, self.requests, strict=True)
        }
        pairs = []
        for item, value in zip(missing, fresh, strict=True):
            plan.accept(item, value)
            pairs.append((by_id[_item_id(item)], value))
        await self.cache._save_many(pairs, response)
        if len(missing) == len(plan.inputs):  # nothing came from the cache: the original answer
            return response
        merged = plan.merge(doc)
        model = _model_type(type(response)) or self.model
        return rebuild(merged, model)


def wrap(
    source: CacheSource, call_type: str, fn: Callable[..., Any], response_type: type[Any] | None
) -> Callable[..., Any]:
    """Build the wrapper for ``fn`` (sync, async, generator or async generator)."""
    if response_type is not None and _model_type(response_type) is None:
        raise ValueError(f"response_type must be a pydantic model class, got {response_type!r}")
    model_cell: list[type[Any] | None] = []

    def model() -> type[Any] | None:
        if not model_cell:
            model_cell.append(response_type or _annotated_model(fn))
        return model_cell[0]

    if _is(inspect.isasyncgenfunction, fn):

        @functools.wraps(fn)
        def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = kwargs.pop("cache", None)
            cache = source()
            if cache is None or not cache.supports(call_type):
                return fn(*args, **kwargs)
            call = _Call(cache, call_type, fn, response_type, args, kwargs, raw)
            return _async_stream(call)

        return agen_wrapper

    family = call_family(call_type)
    generator = _is(inspect.isgeneratorfunction, fn)
    batchable = family == "embedding"

    def plain(cache: Cache, raw: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether the fast hit path may answer this call (see ``LLMCalls._peek``)."""
        if raw is not None or args or generator or kwargs.get("stream") is True:
            return False
        return not (batchable and isinstance(kwargs.get("input"), list | tuple))

    def fast_hit(cache: Cache, kwargs: dict[str, Any]) -> Any:
        value = cache._peek(family, kwargs)
        if value is MISS or value is None:
            return MISS
        m = model()
        if m is None:
            return value
        try:
            return m.model_validate(value)
        except Exception:  # the full path reports it and refreshes the entry
            return MISS

    if _is(inspect.iscoroutinefunction, fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = kwargs.pop("cache", None)
            cache = source()
            if cache is None or not cache.supports(call_type):
                return await fn(*args, **kwargs)
            if plain(cache, raw, args, kwargs):
                value = fast_hit(cache, kwargs)
                if value is not MISS:
                    return value
            if cache._breaker_open():
                CacheControls.parse(raw)  # still validated before the call
                await cache._skip_open_circuit(family)
                return await fn(*args, **kwargs)
            return await _acall(_Call(cache, call_type, fn, model(), args, kwargs, raw))

        return async_wrapper

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        raw = kwargs.pop("cache", None)
        cache = source()
        if cache is None or not cache.supports(call_type):
            return fn(*args, **kwargs)
        if plain(cache, raw, args, kwargs):
            value = fast_hit(cache, kwargs)
            if value is not MISS:
                return value
        if cache._breaker_open():
            CacheControls.parse(raw)
            cache._run(cache._skip_open_circuit(family))
            return fn(*args, **kwargs)
        return _call(_Call(cache, call_type, fn, model(), args, kwargs, raw, generator))

    return sync_wrapper


async def _acall(call: _Call) -> Any:
    cache, fn = call.cache, call.fn
    if call.items is not None:
        if not await call.lookup_items():
            return await fn(*call.args, **call.kwargs)
        kwargs = call.missing_kwargs()
        response = None if kwargs is None else await fn(*call.args, **kwargs)
        return await _guarded_finish(call, response)
    hit, value, _meta = await call.lookup()
    if call.streaming:
        if hit:
            return replay_async(value, None)
        result = fn(*call.args, **call.kwargs)
        if inspect.isawaitable(result):
            result = await result
        if is_async_stream(result):
            return record_async(result, call.save)
        await call.save(result)
        return result
    if hit:
        return value
    request = call.request
    if request is None:
        return await fn(*call.args, **call.kwargs)

    async def work() -> Any:
        result = await fn(*call.args, **call.kwargs)
        await call.save(result)
        return result

    return await cache._flights.run(request.key, work)


async def _guarded_finish(call: _Call, response: Any) -> Any:
    try:
        return await call.finish_items(response)
    except ValueError as exc:  # the provider's answer could not be split per item
        start = time.perf_counter()
        await call.cache._notify("error", call_family(call.call_type), "", start, error=exc)
        plan = call.plan
        if response is not None and plan is not None and len(plan.missing()) == len(plan.inputs):
            return response  # it answered the whole request: pass it on, uncached
        fresh = call.fn(*call.args, **call.kwargs)
        return await fresh if inspect.isawaitable(fresh) else fresh


async def _async_stream(call: _Call) -> Any:
    """An async generator function's wrapper: lookup happens on first iteration."""
    hit, value, _ = await call.lookup()
    if hit:
        stream = replay_async(value, None)
    else:
        stream = record_async(call.fn(*call.args, **call.kwargs), call.save)
    async with contextlib.aclosing(stream):  # a consumer that stops early closes both
        async for chunk in stream:
            yield chunk


def _call(call: _Call) -> Any:
    cache, fn = call.cache, call.fn
    run = cache._run
    if call.items is not None:
        if not run(call.lookup_items()):
            return fn(*call.args, **call.kwargs)
        kwargs = call.missing_kwargs()
        response = None if kwargs is None else fn(*call.args, **kwargs)
        return run(_guarded_finish(call, response))
    hit, value, _ = run(call.lookup())
    if call.streaming:
        if hit:
            return replay_sync(value, None)
        result = fn(*call.args, **call.kwargs)
        if is_sync_stream(result):
            return record_sync(result, lambda chunks: run(call.save(chunks)))
        run(call.save(result))
        return result
    if hit:
        return value
    request = call.request
    if request is None:
        return fn(*call.args, **call.kwargs)

    def work() -> Any:
        result = fn(*call.args, **call.kwargs)
        run(call.save(result))
        return result

    return cache._sync_flights.run(request.key, work)
