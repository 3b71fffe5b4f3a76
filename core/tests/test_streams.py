"""Streaming results through the ``cached`` wrapper: pass-through as chunks arrive,
store on completion only, replay the original chunks as the same kind of iterator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from cachekit import Cache
from cachekit.testing import FakeClock

from ._support import (
    ChatCompletionChunk,
    Recorder,
    SpyBackend,
    chat_response,
    plugin_manager,
    stream_chunks,
)

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


def req(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": MESSAGES, "stream": True, **extra}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def cache(recorder: Recorder) -> Cache:
    return Cache(type="spy", plugins=plugin_manager(recorder), clock=FakeClock())


def writes(cache: Cache) -> int:
    backend = cache.backend
    assert isinstance(backend, SpyBackend)
    return backend.count("set")


class StreamingProvider:
    """Produces ``stream_chunks(n)`` for call ``n``; records, before producing each
    chunk, what the consumer had received so far (``seen`` is the consumer's list)."""

    def __init__(self, *, fail_after: int | None = None, models: bool = False) -> None:
        self.count = 0
        self.seen: list[Any] = []
        self.snapshots: list[list[Any]] = []
        self.closed = 0
        self.fail_after = fail_after
        self.models = models
        self.calls: list[dict[str, Any]] = []

    def _chunks(self) -> list[Any]:
        chunks = stream_chunks(self.count)
        if self.models:
            return [ChatCompletionChunk.model_validate(c) for c in chunks]
        return chunks

    async def agen(self, **kwargs: Any) -> AsyncIterator[Any]:
        """An async generator function."""
        self.count += 1
        self.calls.append(kwargs)
        try:
            for i, chunk in enumerate(self._chunks()):
                if self.fail_after is not None and i == self.fail_after:
                    raise RuntimeError("connection reset mid-stream")
                self.snapshots.append(list(self.seen))
                yield chunk
        finally:
            self.closed += 1

    async def acreate(self, **kwargs: Any) -> Any:
        """``await client.chat.completions.create(stream=True)``: returns an async stream;
        without ``stream`` it returns a whole response."""
        if not kwargs.get("stream"):
            self.count += 1
            return chat_response(kwargs["model"], self.count)
        return self.agen(**kwargs)

    def gen(self, **kwargs: Any) -> Iterator[Any]:
        """A sync generator function."""
        self.count += 1
        self.calls.append(kwargs)
        try:
            for i, chunk in enumerate(self._chunks()):
                if self.fail_after is not None and i == self.fail_after:
                    raise RuntimeError("connection reset mid-stream")
                self.snapshots.append(list(self.seen))
                yield chunk
        finally:
            self.closed += 1

    def create(self, **kwargs: Any) -> Any:
        """The sync client: returns an iterator when streaming, a response otherwise."""
        if not kwargs.get("stream"):
            self.count += 1
            return chat_response(kwargs["model"], self.count)
        return self.gen(**kwargs)


async def consume_async(stream: Any, seen: list[Any]) -> list[Any]:
    assert hasattr(stream, "__aiter__")
    assert not isinstance(stream, list)
    async for chunk in stream:
        seen.append(chunk)
    return list(seen)


def consume_sync(stream: Any, seen: list[Any]) -> list[Any]:
    assert iter(stream) is stream  # an iterator, not a list
    for chunk in stream:
        seen.append(chunk)
    return list(seen)


# -- async: a coroutine function returning a stream, and an async generator function ------


@pytest.mark.parametrize("shape", ["coroutine", "async-generator"])
async def test_async_stream_passes_through_stores_on_completion_and_replays(
    cache: Cache, recorder: Recorder, shape: str
) -> None:
    provider = StreamingProvider()
    if shape == "coroutine":
        wrapped = cache.cached("acompletion")(provider.acreate)

        async def open_stream(**kw: Any) -> Any:
            return await wrapped(**kw)
    else:
        wrapped = cache.cached("acompletion")(provider.agen)

        async def open_stream(**kw: Any) -> Any:
            return wrapped(**kw)

    stream = await open_stream(**req())
    received: list[Any] = []
    assert hasattr(stream, "__aiter__")
    async for chunk in stream:
        received.append(chunk)
        provider.seen = received
        if len(received) < len(stream_chunks()):
            assert writes(cache) == 0  # nothing is stored before the stream completes
    # every chunk reached the consumer before the provider produced the next one
    assert provider.snapshots == [received[:i] for i in range(len(received))]
    assert received == stream_chunks(1)
    assert writes(cache) == 1
    assert recorder.kinds == ["miss", "store"]

    replay = await open_stream(**req())
    replayed = await consume_async(replay, [])
    assert replayed == stream_chunks(1)  # text, tool-call deltas, finish reason, usage
    assert provider.count == 1
    assert recorder.kinds[-1] == "hit"


def test_sync_stream_passes_through_stores_on_completion_and_replays(
    cache: Cache, recorder: Recorder
) -> None:
    provider = StreamingProvider()
    completion = cache.cached("completion")(provider.create)
    stream = completion(**req())
    received: list[Any] = []
    assert iter(stream) is stream
    for chunk in stream:
        received.append(chunk)
        provider.seen = received
        if len(received) < len(stream_chunks()):
            assert writes(cache) == 0
    assert provider.snapshots == [received[:i] for i in range(len(received))]
    assert received == stream_chunks(1)
    assert writes(cache) == 1

    replayed = consume_sync(completion(**req()), [])
    assert replayed == stream_chunks(1)
    assert provider.count == 1
    assert recorder.kinds == ["miss", "store", "hit"]


def test_sync_generator_function_with_stream_flag(cache: Cache) -> None:
    provider = StreamingProvider()
    completion = cache.cached("completion")(provider.gen)
    assert consume_sync(completion(**req()), []) == stream_chunks(1)
    assert consume_sync(completion(**req()), []) == stream_chunks(1)
    assert provider.count == 1


def test_sync_generator_function_is_a_stream_without_the_flag(
    cache: Cache, recorder: Recorder
) -> None:
    """A generator function's result is an iterator: it is recorded and replayed like
    ``stream=True`` (as an async generator function is), not stored as an object."""
    provider = StreamingProvider()
    completion = cache.cached("completion")(provider.gen)
    kw = req()
    del kw["stream"]
    assert consume_sync(completion(**kw), []) == stream_chunks(1)
    assert consume_sync(completion(**kw), []) == stream_chunks(1)
    assert provider.count == 1
    assert "error" not in recorder.kinds


async def test_async_generator_function_is_a_stream_without_the_flag(cache: Cache) -> None:
    provider = StreamingProvider()
    acompletion = cache.cached("acompletion")(provider.agen)
    kw = req()
    del kw["stream"]
    assert await consume_async(acompletion(**kw), []) == stream_chunks(1)
    assert await consume_async(acompletion(**kw), []) == stream_chunks(1)
    assert provider.count == 1


# -- pydantic chunks -----------------------------------------------------------------------


async def test_pydantic_chunks_replay_as_the_named_type(cache: Cache) -> None:
    provider = StreamingProvider(models=True)
    acompletion = cache.cached("acompletion", response_type=ChatCompletionChunk)(provider.acreate)
    original = await consume_async(await acompletion(**req()), [])
    assert all(isinstance(c, ChatCompletionChunk) for c in original)

    replayed = await consume_async(await acompletion(**req()), [])
    assert provider.count == 1
    assert all(isinstance(c, ChatCompletionChunk) for c in replayed)
    assert replayed == original
    tool_chunk = replayed[3]
    assert tool_chunk.choices[0].delta.tool_calls[0].function.name == "get_weather"
    assert replayed[5].choices[0].finish_reason == "tool_calls"
    assert replayed[-1].usage is not None
    assert replayed[-1].usage.total_tokens == 16


def test_pydantic_chunks_replay_as_the_type_the_miss_streamed(cache: Cache) -> None:
    provider = StreamingProvider(models=True)
    completion = cache.cached("completion")(provider.create)  # no chunk type named
    original = consume_sync(completion(**req()), [])
    replayed = consume_sync(completion(**req()), [])
    assert [type(c) for c in replayed] == [type(c) for c in original]
    assert replayed == original


def test_pydantic_chunks_without_a_known_type_replay_as_json(cache: Cache) -> None:
    provider = StreamingProvider(models=True)
    original = consume_sync(cache.cached("completion")(provider.create)(**req()), [])
    replayed = consume_sync(cache.cached("completion")(provider.create)(**req()), [])
    assert replayed == [c.model_dump(mode="json") for c in original]


# -- aborted streams store nothing ------------------------------------------------------------


async def test_consumer_that_stops_early_stores_nothing_async(cache: Cache) -> None:
    provider = StreamingProvider()
    acompletion = cache.cached("acompletion")(provider.acreate)
    stream = await acompletion(**req())
    async with contextlib.aclosing(stream):
        async for _chunk in stream:
            break
    assert provider.closed == 1  # the provider's stream was closed too
    assert writes(cache) == 0

    assert await consume_async(await acompletion(**req()), []) == stream_chunks(2)
    assert provider.count == 2


async def test_consumer_that_stops_early_stores_nothing_async_generator(cache: Cache) -> None:
    provider = StreamingProvider()
    acompletion = cache.cached("acompletion")(provider.agen)
    stream = acompletion(**req())
    async with contextlib.aclosing(stream):
        async for _chunk in stream:
            break
    assert writes(cache) == 0
    assert await consume_async(acompletion(**req()), []) == stream_chunks(2)


def test_consumer_that_stops_early_stores_nothing_sync(cache: Cache) -> None:
    provider = StreamingProvider()
    completion = cache.cached("completion")(provider.create)
    with contextlib.closing(completion(**req())) as stream:
        next(stream)
        next(stream)
    assert provider.closed == 1
    assert writes(cache) == 0
    assert consume_sync(completion(**req()), []) == stream_chunks(2)


async def test_provider_failing_mid_stream_stores_nothing_async(cache: Cache) -> None:
    provider = StreamingProvider(fail_after=3)
    acompletion = cache.cached("acompletion")(provider.acreate)
    received: list[Any] = []
    with pytest.raises(RuntimeError, match="mid-stream"):
        await consume_async(await acompletion(**req()), received)
    assert received == stream_chunks(1)[:3]
    assert writes(cache) == 0
    with pytest.raises(RuntimeError, match="mid-stream"):
        await consume_async(await acompletion(**req()), [])
    assert provider.count == 2


def test_provider_failing_mid_stream_stores_nothing_sync(cache: Cache) -> None:
    provider = StreamingProvider(fail_after=2)
    completion = cache.cached("completion")(provider.create)
    with pytest.raises(RuntimeError, match="mid-stream"):
        consume_sync(completion(**req()), [])
    assert writes(cache) == 0
    provider.fail_after = None
    assert consume_sync(completion(**req()), []) == stream_chunks(2)
    assert writes(cache) == 1


# -- streamed and whole answers never share an entry ------------------------------------------


async def test_streamed_and_whole_requests_do_not_share_entries_async(cache: Cache) -> None:
    provider = StreamingProvider()
    acompletion = cache.cached("acompletion")(provider.acreate)
    whole = req()
    del whole["stream"]

    assert await acompletion(**whole) == chat_response("gpt-4o", 1)
    streamed = await acompletion(**req())
    assert hasattr(streamed, "__aiter__")  # not the stored whole answer
    assert await consume_async(streamed, []) == stream_chunks(2)
    assert provider.count == 2

    assert await acompletion(**whole) == chat_response("gpt-4o", 1)  # each kind hits its own
    assert await consume_async(await acompletion(**req()), []) == stream_chunks(2)
    assert provider.count == 2
    assert cache.get_cache_key(**whole) != cache.get_cache_key(**req())


def test_streamed_and_whole_requests_do_not_share_entries_sync(cache: Cache) -> None:
    provider = StreamingProvider()
    completion = cache.cached("completion")(provider.create)
    whole = req()
    del whole["stream"]
    assert consume_sync(completion(**req()), []) == stream_chunks(1)
    assert completion(**whole) == chat_response("gpt-4o", 2)
    assert provider.count == 2


# -- controls on streams -------------------------------------------------------------------------


async def test_stream_controls(cache: Cache) -> None:
    provider = StreamingProvider()
    acompletion = cache.cached("acompletion")(provider.acreate)

    await consume_async(await acompletion(**req(), cache={"no-store": True}), [])
    assert writes(cache) == 0
    await consume_async(await acompletion(**req()), [])
    assert writes(cache) == 1
    refreshed = await consume_async(await acompletion(**req(), cache={"no-cache": True}), [])
    assert refreshed == stream_chunks(3)
    assert await consume_async(await acompletion(**req()), []) == stream_chunks(3)
    assert provider.count == 3
    assert all("cache" not in call for call in provider.calls)
