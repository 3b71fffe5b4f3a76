"""Streams that keep the SDK's interface: recorded on a miss, replayed on a hit.

On a miss the caller gets a :class:`RecordingStream`/:class:`RecordingAsyncStream`
around the provider's stream: chunks pass through as they arrive, iteration,
the (async) context manager and ``close()`` behave like the SDK's ``Stream``/
``AsyncStream``, and every other attribute (``response``…) is the SDK stream's own.
The chunks are stored when the stream is consumed to its end — the write has
completed when the last ``next()`` raises — and never when it is closed early or
the provider fails part-way.

On a hit the caller gets a :class:`ReplayStream`/:class:`ReplayAsyncStream` over the
stored chunks, with the same protocol (iteration, context manager, ``close()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any

__all__ = [
    "ReplayAsyncStream",
    "ReplayStream",
    "RecordingAsyncStream",
    "RecordingStream",
    "is_async_stream",
    "is_sync_stream",
]


def is_async_stream(obj: object) -> bool:
    return hasattr(obj, "__aiter__")


def is_sync_stream(obj: object) -> bool:
    if isinstance(obj, str | bytes | dict | list | tuple) or hasattr(obj, "model_dump"):
        return False
    return hasattr(obj, "__next__") or hasattr(obj, "__iter__")


class RecordingStream:
    """A provider's sync stream, passed through and stored once it completes."""

    def __init__(self, source: Any, store: Callable[[list[Any]], None]) -> None:
        self._source = source
        self._store: Callable[[list[Any]], None] | None = store
        self._iterator: Iterator[Any] | None = None
        self._chunks: list[Any] = []

    def __iter__(self) -> RecordingStream:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._source)
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._finish()
            raise
        if self._store is not None:
            self._chunks.append(chunk)
        return chunk

    def _finish(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store(self._chunks)

    def close(self) -> None:
        """Stop early: nothing is stored; the provider's stream is closed."""
        self._store = None
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> RecordingStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never delegate private names (copy, pickle, half-built)
            raise AttributeError(name)
        return getattr(self._source, name)


class RecordingAsyncStream:
    """A provider's async stream, passed through and stored once it completes."""

    def __init__(self, source: Any, store: Callable[[list[Any]], Awaitable[None]]) -> None:
        self._source = source
        self._store: Callable[[list[Any]], Awaitable[None]] | None = store
        self._iterator: AsyncIterator[Any] | None = None
        self._chunks: list[Any] = []

    def __aiter__(self) -> RecordingAsyncStream:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._source.__aiter__()
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            store, self._store = self._store, None
            if store is not None:
                await store(self._chunks)
            raise
        if self._store is not None:
            self._chunks.append(chunk)
        return chunk

    async def close(self) -> None:
        """Stop early: nothing is stored; the provider's stream is closed."""
        self._store = None
        for name in ("close", "aclose"):
            close = getattr(self._source, name, None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
                return

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> RecordingAsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never delegate private names (copy, pickle, half-built)
            raise AttributeError(name)
        return getattr(self._source, name)


class ReplayStream:
    """Stored chunks replayed as a sync stream."""

    def __init__(self, chunks: list[Any]) -> None:
        self._chunks = iter(chunks)

    def __iter__(self) -> ReplayStream:
        return self

    def __next__(self) -> Any:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks = iter(())

    def __enter__(self) -> ReplayStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ReplayAsyncStream:
    """Stored chunks replayed as an async stream."""

    def __init__(self, chunks: list[Any]) -> None:
        self._chunks = iter(chunks)

    def __aiter__(self) -> ReplayAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        self._chunks = iter(())

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> ReplayAsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
