"""Streaming results: pass chunks through as they arrive, store on completion,
replay the original chunks as the same kind of iterator on a hit.

Only a stream that ran to its end is stored; a consumer that stops early or a
provider that raises leaves nothing behind. Chunks are stored as their JSON form
(pydantic chunks via ``model_dump``), so a replay carries the original text,
tool-call deltas, usage and finish reasons, chunk for chunk.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable
from typing import Any

from cachekit._envelope import rebuild, to_json_value

__all__ = [
    "is_async_stream",
    "is_sync_stream",
    "record_async",
    "record_sync",
    "replay_async",
    "replay_sync",
]

STREAM_META = {"stream": True}


def is_async_stream(obj: object) -> bool:
    return hasattr(obj, "__aiter__")


def is_sync_stream(obj: object) -> bool:
    return (hasattr(obj, "__iter__") and hasattr(obj, "__next__")) or (
        hasattr(obj, "__iter__")
        and not isinstance(obj, str | bytes | dict | list | tuple)
        and not hasattr(obj, "model_dump")
    )


async def replay_async(
    chunks: Iterable[Any], chunk_type: type[Any] | None
) -> AsyncGenerator[Any, None]:
    for chunk in chunks:
        yield rebuild(chunk, chunk_type)


def replay_sync(chunks: Iterable[Any], chunk_type: type[Any] | None) -> Generator[Any, None, None]:
    for chunk in chunks:
        yield rebuild(chunk, chunk_type)


async def record_async(
    source: Any, store: Callable[[list[Any]], Awaitable[None]]
) -> AsyncGenerator[Any, None]:
    """Yield ``source``'s chunks; once it is exhausted, ``await store(chunks)``."""
    chunks: list[Any] = []
    try:
        async for chunk in source:
            chunks.append(to_json_value(chunk))
            yield chunk
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
    await store(chunks)


def record_sync(source: Any, store: Callable[[list[Any]], None]) -> Generator[Any, None, None]:
    """Yield ``source``'s chunks; once it is exhausted, ``store(chunks)``."""
    chunks: list[Any] = []
    try:
        for chunk in source:
            chunks.append(to_json_value(chunk))
            yield chunk
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    store(chunks)
