"""Helpers for the LLM-call layer tests: counting fake providers, OpenAI-shaped
pydantic models, observers, and two test backends registered through the plugin
hook on a fresh plugin manager.

Both test backends wrap a real :class:`cachekit.LocalBackend`; the only fake part
is what they add: :class:`SpyBackend` records the operations that reach it, and
:class:`FaultyBackend` injects a fault (raise, hang, garbage bytes) into chosen
operations.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar

import anyio
import pluggy
from cachekit import AsyncBackend, CacheEvent, LocalBackend, build_plugin_manager, hookimpl
from pydantic import BaseModel

SECRET = "sk-live-SECRET-do-not-store-123"

# -- OpenAI-shaped models ------------------------------------------------------


class Message(BaseModel):
    role: str
    content: str | None = None


class Choice(BaseModel):
    index: int
    message: Message
    finish_reason: str | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None


class FunctionDelta(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(BaseModel):
    index: int
    id: str | None = None
    type: str | None = None
    function: FunctionDelta | None = None


class Delta(BaseModel):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: str = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class Embedding(BaseModel):
    object: str = "embedding"
    index: int
    embedding: list[float]


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class CreateEmbeddingResponse(BaseModel):
    object: str = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


# -- fake providers ------------------------------------------------------------


def chat_response(model: str, n: int) -> dict[str, Any]:
    """An OpenAI chat completion as a dict; ``n`` makes every answer distinct."""
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1_700_000_000 + n,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"answer {n}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


class Provider:
    """A counting fake provider. ``calls`` holds the kwargs (and args) of every call."""

    def __init__(self, make: Callable[[dict[str, Any], int], Any] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.args: list[tuple[Any, ...]] = []
        self._make = make or (lambda kw, n: chat_response(str(kw.get("model")), n))

    @property
    def count(self) -> int:
        return len(self.calls)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(dict(kwargs))
        self.args.append(args)
        return self._make(kwargs, len(self.calls))

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        return self(*args, **kwargs)


def chat_model_response(kwargs: dict[str, Any], n: int) -> ChatCompletion:
    return ChatCompletion.model_validate(chat_response(str(kwargs.get("model")), n))


def stream_chunks(n: int = 1) -> list[dict[str, Any]]:
    """An OpenAI stream with text, a tool-call delta, a finish reason and a usage chunk."""
    base = {"id": f"chatcmpl-s{n}", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": f"Hel{n}"}),
        chunk({"content": "lo"}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":'},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk({}, "tool_calls"),
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
        },
    ]


class StreamRecorder:
    """A counting async-generator provider: call ``n`` streams ``stream_chunks(n)``."""

    def __init__(self) -> None:
        self.count = 0

    async def agen(self, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        self.count += 1
        for chunk in stream_chunks(self.count):
            yield chunk


def vector(text: str | Sequence[int]) -> list[float]:
    """A deterministic fake embedding of one input."""
    if isinstance(text, str):
        return [float(len(text)), float(sum(map(ord, text)) % 997)]
    return [float(len(text)), float(sum(text))]


def tokens(item: str | Sequence[int]) -> int:
    return len(item.split()) if isinstance(item, str) else len(item)


def embedding_response(kwargs: dict[str, Any], n: int) -> dict[str, Any]:
    """An OpenAI embeddings response for ``kwargs["input"]`` (str, list of str, token lists)."""
    inputs = kwargs["input"]
    if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    used = sum(tokens(i) for i in inputs)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector(item)}
            for i, item in enumerate(inputs)
        ],
        "model": kwargs.get("model", "text-embedding-3-small"),
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }


def embedding_model_response(kwargs: dict[str, Any], n: int) -> CreateEmbeddingResponse:
    return CreateEmbeddingResponse.model_validate(embedding_response(kwargs, n))


# -- observers -------------------------------------------------------------------


class Recorder:
    """A sync observer plugin that keeps every event it sees."""

    def __init__(self) -> None:
        self.events: list[CacheEvent] = []

    def of(self, kind: str) -> list[CacheEvent]:
        return [e for e in self.events if e.kind == kind]

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    @hookimpl
    def cachekit_on_hit(self, event: CacheEvent) -> None:
        self.events.append(event)

    @hookimpl
    def cachekit_on_miss(self, event: CacheEvent) -> None:
        self.events.append(event)

    @hookimpl
    def cachekit_on_store(self, event: CacheEvent) -> None:
        self.events.append(event)

    @hookimpl
    def cachekit_on_error(self, event: CacheEvent) -> None:
        self.events.append(event)


class AsyncRecorder(Recorder):
    """The same observer written with ``async def`` hook implementations."""

    @hookimpl
    async def cachekit_on_hit(self, event: CacheEvent) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        self.events.append(event)

    @hookimpl
    async def cachekit_on_miss(self, event: CacheEvent) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        self.events.append(event)

    @hookimpl
    async def cachekit_on_store(self, event: CacheEvent) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        self.events.append(event)

    @hookimpl
    async def cachekit_on_error(self, event: CacheEvent) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        self.events.append(event)


# -- test backends -------------------------------------------------------------------


class SpyBackend(AsyncBackend):
    """A real LocalBackend that records every operation reaching it (``ops``)."""

    inline: ClassVar[bool] = True
    native_ttl: ClassVar[bool] = True

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, **options: Any) -> None:
        self.inner = LocalBackend(clock=clock, **options)
        self.default_ttl = self.inner.default_ttl
        self.ops: list[tuple[str, Any, Any]] = []

    def count(self, op: str) -> int:
        return sum(1 for name, _, _ in self.ops if name == op)

    def ttls(self) -> list[float | None]:
        """The lifetimes every write was given, in order."""
        return [ttl for name, _, ttl in self.ops if name in ("set", "set_many")]

    def raw(self) -> dict[str, bytes]:
        """Every stored value, by key (read straight from the inner store)."""
        return dict(self.inner._data)

    async def get(self, key: str) -> bytes | None:
        self.ops.append(("get", key, None))
        return await self.inner.get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self.ops.append(("get_many", list(keys), None))
        return await self.inner.get_many(keys)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.ops.append(("set", key, ttl))
        await self.inner.set(key, value, ttl)

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        self.ops.append(("set_many", list(mapping), ttl))
        await self.inner.set_many(mapping, ttl)

    async def delete(self, key: str) -> bool:
        self.ops.append(("delete", key, None))
        return await self.inner.delete(key)

    async def clear(self, prefix: str) -> int:
        self.ops.append(("clear", prefix, None))
        return await self.inner.clear(prefix)

    async def aclose(self) -> None:
        await self.inner.aclose()


GARBAGE = b"\xff\x00not a cachekit entry"


class FaultyBackend(AsyncBackend):
    """A real LocalBackend (remote-style: not inline, so it goes through the timeout and
    the circuit breaker) with injectable faults per operation.

    ``fail(mode, *ops)``: ``"raise"`` raises a (non-cachekit) ``ConnectionError``,
    ``"hang"`` blocks on an :class:`anyio.Event` that is never set, ``"garbage"`` makes
    reads return bytes that are not an entry. ``heal()`` removes every fault.
    ``calls`` counts the operations that reached the backend.
    """

    OPS = ("get", "get_many", "set", "set_many", "delete", "clear")

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, **options: Any) -> None:
        self.inner = LocalBackend(clock=clock, **options)
        self.default_ttl = self.inner.default_ttl
        self.faults: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        #: When set, ``get`` reads the stored value and then waits for this event before
        #: answering (a slow reply: the value it returns may be stale by then).
        self.hold_reads: anyio.Event | None = None

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def fail(self, mode: str, *ops: str) -> None:
        assert mode in ("raise", "hang", "garbage")
        for op in ops or self.OPS:
            self.faults[op] = mode

    def heal(self) -> None:
        self.faults.clear()

    async def _enter(self, op: str) -> str | None:
        self.calls[op] += 1
        mode = self.faults.get(op)
        if mode == "raise":
            raise ConnectionError(f"injected failure in {op}")
        if mode == "hang":
            await anyio.Event().wait()
        return mode

    async def get(self, key: str) -> bytes | None:
        if await self._enter("get") == "garbage":
            return GARBAGE
        value = await self.inner.get(key)
        if self.hold_reads is not None:
            await self.hold_reads.wait()
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if await self._enter("get_many") == "garbage":
            return [GARBAGE for _ in keys]
        return await self.inner.get_many(keys)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._enter("set")
        await self.inner.set(key, value, ttl)

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        await self._enter("set_many")
        await self.inner.set_many(mapping, ttl)

    async def delete(self, key: str) -> bool:
        await self._enter("delete")
        return await self.inner.delete(key)

    async def clear(self, prefix: str) -> int:
        await self._enter("clear")
        return await self.inner.clear(prefix)

    async def aclose(self) -> None:
        await self.inner.aclose()


class InlineFaultyBackend(FaultyBackend):
    """The same, declared ``inline`` (in-process): the core skips timeout and breaker.
    Only the ``"raise"`` and ``"garbage"`` faults make sense here."""

    inline: ClassVar[bool] = True


class BackendsPlugin:
    """A plugin registering the test backends through the public hook."""

    @hookimpl
    def cachekit_register_backends(
        self, register: Callable[[str, Callable[..., Any]], None]
    ) -> None:
        register("spy", SpyBackend)
        register("faulty", FaultyBackend)
        register("faulty-inline", InlineFaultyBackend)


def plugin_manager(*plugins: object) -> pluggy.PluginManager:
    """A fresh, hermetic plugin manager with the test backends and ``plugins``."""
    pm = build_plugin_manager(autoload=False)
    pm.register(BackendsPlugin())
    for plugin in plugins:
        pm.register(plugin)
    return pm
