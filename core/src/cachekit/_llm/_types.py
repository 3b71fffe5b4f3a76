"""What a wrapped function is: sync or async, and which types its results have.

**Sync or async.** A hit never calls the provider, so the wrapper must know whether
the caller expects an awaitable *before* calling. It looks through ``__wrapped__``,
``functools.partial``, bound methods and callable objects (the OpenAI SDK's
``create`` is a plain function wrapping an ``async def``): a coroutine function is
async, a generator function a sync stream, an async generator function an async
stream, and a function whose return annotation says ``Awaitable``/``Coroutine`` is
async while any other annotation means sync. A callable that says nothing (a
``lambda``, an unannotated callable object) is **unknown**: its first call is made
without a cache read and what it returns (an awaitable or not) decides; later calls
are cached. Either way the result is checked: a "sync" function that returns an
awaitable is awaited on the async path from then on.

**Types.** Responses are rebuilt into the types the function's return annotation
names (``ChatCompletion | AsyncStream[ChatCompletionChunk]``: whole responses into
``ChatCompletion``, stream chunks into ``ChatCompletionChunk``), the ones the caller
passed (``response_type=``, ``chunk_type=``), and the ones misses in this process
returned. A generic response model with a free type parameter (the SDK's
``ParsedChatCompletion[ResponseFormatT]``) is parametrised with the request's
``response_format`` class.
"""

from __future__ import annotations

import collections.abc
import contextlib
import functools
import inspect
import threading
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal

from cachekit._policy._models import is_model_class, model_name

__all__ = [
    "CallKind",
    "TypeChoice",
    "annotated_types",
    "call_kind",
    "reparametrise",
    "unwrap",
]

CallKind = Literal["async", "sync", "agen", "gen", "unknown"]

_AWAITABLE_ORIGINS = (collections.abc.Awaitable, collections.abc.Coroutine)
_STREAM_ORIGINS = (
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.Generator,
    collections.abc.AsyncGenerator,
)


def unwrap(fn: Any) -> Any:
    """The function that does the work behind decorators, partials and bound methods."""
    for _ in range(32):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif inspect.ismethod(fn):
            fn = fn.__func__
        elif getattr(fn, "__wrapped__", None) is not None:
            fn = fn.__wrapped__
        else:
            break
    if not inspect.isroutine(fn) and not isinstance(fn, type) and callable(fn):
        call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's __call__
        if call is not None:
            return unwrap(call)
    return fn


def _return_annotation(fn: Any) -> Any:
    try:
        return typing.get_type_hints(fn).get("return", inspect.Signature.empty)
    except Exception:
        try:
            return inspect.signature(fn).return_annotation
        except (TypeError, ValueError):
            return inspect.Signature.empty


def call_kind(fn: Callable[..., Any]) -> CallKind:
    """How calling ``fn`` behaves (see the module docstring)."""
    target = unwrap(fn)
    if inspect.isasyncgenfunction(target):
        return "agen"
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(fn):
        return "async"
    if inspect.isgeneratorfunction(target):
        return "gen"
    annotation = _return_annotation(target)
    if annotation is inspect.Signature.empty or isinstance(annotation, str):
        return "unknown"
    origin = typing.get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, _AWAITABLE_ORIGINS):
        return "async"
    return "sync"


def _flatten(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return [m for arg in typing.get_args(annotation) for m in _flatten(arg)]
    if isinstance(origin, type) and issubclass(origin, _AWAITABLE_ORIGINS):
        args = typing.get_args(annotation)
        return _flatten(args[-1]) if args else []
    return [annotation]


def _is_stream_type(candidate: Any) -> bool:
    origin = typing.get_origin(candidate) or candidate
    if not isinstance(origin, type) or is_model_class(origin):
        return False
    if issubclass(origin, _STREAM_ORIGINS):
        return True
    return hasattr(origin, "__aiter__") or hasattr(origin, "__next__")


def annotated_types(fn: Callable[..., Any]) -> tuple[list[type], list[type]]:
    """``(response types, chunk types)`` named by ``fn``'s return annotation."""
    annotation = _return_annotation(unwrap(fn))
    if annotation is inspect.Signature.empty or isinstance(annotation, str):
        return [], []
    responses: list[type] = []
    chunks: list[type] = []
    for member in _flatten(annotation):
        if is_model_class(member) or is_model_class(typing.get_origin(member)):
            responses.append(member)
        elif _is_stream_type(member):
            for arg in typing.get_args(member):
                chunks.extend(m for m in _flatten(arg) if is_model_class(m))
    return responses, chunks


class TypeChoice:
    """The model types one kind of result (whole responses, or stream chunks) may
    be rebuilt into, in order of preference; grows with what misses return."""

    __slots__ = ("_by_name", "_lock", "types")

    def __init__(self, types: Iterable[type]) -> None:
        self.types: list[type] = []
        self._by_name: dict[str, type] = {}
        self._lock = threading.Lock()
        for cls in types:
            self.learn(cls)

    def learn(self, cls: type) -> None:
        if not is_model_class(cls) or cls in self.types:
            return
        with self._lock:
            if cls not in self.types:
                self.types = [*self.types, cls]
                self._by_name.setdefault(model_name(cls), cls)

    def declared(self, stored_name: str | None) -> type | None:
        """The type a value stored as ``stored_name`` was declared as (``None``: as is)."""
        cls = self._by_name.get(stored_name) if stored_name else None
        if cls is None and self.types:
            cls = self.types[0]
        return cls

    def pick(self, stored_name: str | None, request: dict[str, Any] | None = None) -> type | None:
        """The type to validate a value stored as ``stored_name`` with (``None``: as is)."""
        cls = self.declared(stored_name)
        return None if cls is None else _parametrised(cls, request)

    def modules(self) -> set[str]:
        """The modules whose classes this choice trusts (for nested models)."""
        return {cls.__module__ for cls in self.types}


@functools.lru_cache(maxsize=256)
def _free_parameter(cls: type) -> Any:
    """The type variable a generic model is parametrised with (``X[T]``, ``X`` of
    ``Generic[T]``), or ``None``."""
    metadata = getattr(cls, "__pydantic_generic_metadata__", None)
    if not metadata:
        return None
    for candidate in (*metadata.get("args", ()), *metadata.get("parameters", ())):
        if isinstance(candidate, typing.TypeVar):
            return candidate
    return None


def _parametrised(cls: type, request: dict[str, Any] | None) -> type:
    """``X[T]`` models are validated as ``X[<the request's response_format class>]``."""
    typevar = _free_parameter(cls)
    if typevar is None or request is None:
        return cls
    response_format = request.get("response_format")
    if not is_model_class(response_format):
        return cls
    metadata = cls.__pydantic_generic_metadata__  # type: ignore[attr-defined]
    origin = metadata.get("origin") or cls
    try:
        return origin[response_format]  # type: ignore[index,no-any-return]
    except TypeError:
        return cls


def reparametrise(obj: Any, declared: type, request: dict[str, Any] | None) -> Any:
    """Give ``obj`` (validated as ``X[Concrete]``) and the models inside it the classes
    an SDK that declares ``X[T]`` returns: ``X[T]``, ``Y[T]``… (same fields; the OpenAI
    SDK's ``parse`` builds ``ParsedChatCompletion[ResponseFormatT]`` that way)."""
    typevar = _free_parameter(declared)
    if typevar is None or request is None:
        return obj
    concrete = request.get("response_format")
    if isinstance(concrete, type) and is_model_class(concrete):
        _swap_classes(obj, concrete, typevar, 0)
    return obj


def _swap_classes(node: Any, concrete: type, typevar: Any, depth: int) -> None:
    if depth > 16:
        return
    if type(node) is list:
        for item in node:
            _swap_classes(item, concrete, typevar, depth + 1)
        return
    metadata = getattr(type(node), "__pydantic_generic_metadata__", None)
    if metadata is None or isinstance(node, type):
        return
    if metadata.get("args") == (concrete,) and metadata.get("origin") is not None:
        with contextlib.suppress(TypeError):
            node.__class__ = metadata["origin"][typevar]
    for value in getattr(node, "__dict__", {}).values():
        _swap_classes(value, concrete, typevar, depth + 1)
