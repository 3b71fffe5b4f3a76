"""How an SDK method is handed to ``cache.cached(...)``: through a thin function whose
return annotation is the method's, already evaluated.

Why: the core reads a function's return annotation (sync or async, which types a hit
is rebuilt into) with ``typing.get_type_hints``, which evaluates *every* annotation of
the SDK's ``create`` — some forty parameters of string annotations, about 10 ms each
time. A wrapped client builds its cached methods again for every
``with_options(...)`` copy, so that cost would land on calls. Here the SDK function's
return annotation is evaluated once per process and the thin function carries only
that; the core then learns the same thing at no cost. The thin function calls the
bound SDK method unchanged (an ``async def`` for async clients, so the core sees a
coroutine function, as it would the SDK's own), and shows the SDK method's name,
docstring and signature.
"""

from __future__ import annotations

import inspect
import threading
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["provider_function"]

_EMPTY = inspect.Signature.empty
_known: dict[Any, tuple[Any, inspect.Signature | None]] = {}
_known_lock = threading.Lock()


def _describe(function: Any) -> tuple[Any, inspect.Signature | None]:
    """``function``'s evaluated return annotation (``inspect.Signature.empty`` if it
    cannot be evaluated) and its signature without ``self``; once per function."""
    with _known_lock:
        found = _known.get(function)
    if found is not None:
        return found
    try:
        hint = typing.get_type_hints(function).get("return", _EMPTY)
    except Exception:  # an annotation this Python cannot evaluate: let the core decide
        hint = _EMPTY
    try:
        signature = inspect.signature(function)
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    except (TypeError, ValueError):
        signature = None
    with _known_lock:
        found = _known.setdefault(function, (hint, signature))
    return found


def provider_function(method: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """What the core wraps for the bound SDK ``method`` (see the module docstring);
    ``method`` itself when its return annotation cannot be evaluated."""
    function = getattr(method, "__func__", None)
    if function is None:
        return method
    hint, signature = _describe(function)
    if hint is _EMPTY:
        return method
    call: Callable[..., Any]
    if is_async:

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return (await result) if inspect.isawaitable(result) else result

    else:

        def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

    call.__annotations__ = {"return": hint}
    if signature is not None:  # inspect.signature(wrapped.create) shows the SDK's parameters
        call.__signature__ = signature  # type: ignore[union-attr]
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        value = getattr(method, name, None)
        if value is not None:
            setattr(call, name, value)
    return call
