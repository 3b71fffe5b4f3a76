"""How one wrapped function's results go into entries and come back out.

Whole responses are stored as their JSON form with ``meta["model"]`` (the class
name) and, when the SDK nests models in untyped containers, ``meta["nested"]``
(see :mod:`cachekit._policy._models`). Streams are stored as the list of their
chunks' JSON forms with ``meta["stream"]`` and the chunk class names
(``meta["models"]``, plus ``meta["kinds"]`` — an index per chunk — when a stream
mixes classes, as the Responses API's event stream does).

A hit is rebuilt into the type the :class:`~cachekit._llm._types.TypeChoice` picks
for the stored class name, straight from the payload bytes where it can be. LiteLLM
responses (objects with a ``_hidden_params`` dict) are marked
``_hidden_params["cache_hit"] = True``, as LiteLLM's own cache does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from cachekit._llm._types import TypeChoice, annotated_types, reparametrise
from cachekit._policy._envelope import Entry, decode_payload, to_json_value
from cachekit._policy._fidelity import apply_diff, attribute_diff
from cachekit._policy._models import (
    build_model,
    describe,
    is_model_class,
    model_name,
    rebuild_payload,
    restore_nested,
)

__all__ = ["STREAM_META", "Codec", "mark_hit"]

STREAM_META = "stream"


#: Per class: can its instances carry LiteLLM's ``_hidden_params``? (Asked once per
#: class: a missing attribute on a pydantic object costs a slow ``__getattr__``.)
_HIDDEN_PARAMS: dict[type, bool] = {}


def mark_hit(obj: Any) -> Any:
    """Set LiteLLM's ``_hidden_params["cache_hit"]`` on an object that has them."""
    cls = type(obj)
    has = _HIDDEN_PARAMS.get(cls)
    if has is None:
        has = _HIDDEN_PARAMS[cls] = "_hidden_params" in getattr(
            cls, "__private_attributes__", ()
        ) or hasattr(cls, "_hidden_params")
    if not has:
        return obj
    hidden = getattr(obj, "_hidden_params", None)
    if isinstance(hidden, dict):
        with contextlib.suppress(Exception):  # a frozen object: leave it
            obj._hidden_params = {**hidden, "cache_hit": True}
    return obj


class Codec:
    """Storage form and rebuilding for the results of one wrapped function."""

    __slots__ = ("chunks", "responses")

    def __init__(
        self,
        fn: Callable[..., Any] | None = None,
        response_type: type[Any] | None = None,
        chunk_type: type[Any] | None = None,
    ) -> None:
        annotated_responses, annotated_chunks = annotated_types(fn) if fn else ([], [])
        self.responses = TypeChoice([*_given(response_type), *annotated_responses])
        self.chunks = TypeChoice([*_given(chunk_type), *annotated_chunks])

    # -- whole responses -----------------------------------------------------------
    def response_meta(self, result: Any) -> dict[str, Any] | None:
        """What to record beside a whole response (its class is recorded by the envelope)."""
        if not hasattr(result, "model_dump"):
            return None
        cls = type(result)
        self.responses.learn(cls)
        meta = describe(result) or {}
        try:  # what a rebuild of the stored form would get wrong, fixed on every hit
            rebuilt = build_model(cls, to_json_value(result))
            if "nested" in meta:
                restore_nested(rebuilt, meta["nested"], {cls.__module__})
            diff = attribute_diff(result, rebuilt)
        except Exception:  # cannot be rebuilt here: hits will say so, when they happen
            diff = {}
        if diff:
            meta["attrs"] = diff
        return meta or None

    def response(self, entry: Entry, request: dict[str, Any] | None) -> Any:
        """A stored whole response, rebuilt (``ValueError``/``TypeError`` if it does not fit).
        A value stored as plain data (a ``str`` transcription…) comes back as it is."""
        meta = entry.meta or {}
        stored = meta.get("model")
        declared = self.responses.declared(stored)
        if declared is None or (stored is None and not entry.payload.startswith(b"{")):
            return entry.value
        cls = self.responses.pick(stored, request)
        assert cls is not None
        obj = reparametrise(rebuild_payload(entry.payload, cls, decode_payload), declared, request)
        nested = meta.get("nested")
        if isinstance(nested, dict):
            restore_nested(obj, nested, self.responses.modules())
        attrs = meta.get("attrs")
        if isinstance(attrs, dict):
            apply_diff(obj, attrs)
        return mark_hit(obj)

    def response_from_value(self, value: Any, request: dict[str, Any] | None) -> Any:
        """A whole response given as plain JSON values (an override's answer, a merge)."""
        cls = self.responses.pick(None, request)
        if cls is None or value is None or not isinstance(value, dict):
            return value
        return mark_hit(build_model(cls, value))

    # -- streams ---------------------------------------------------------------------
    def stream_entry(self, chunks: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        """The stored form of a completed stream's chunks: ``(values, meta)``."""
        names: list[str] = []
        kinds: list[int] = []
        values = []
        for chunk in chunks:
            values.append(to_json_value(chunk))
            if is_model_class(type(chunk)):
                self.chunks.learn(type(chunk))
                name = model_name(type(chunk))
                if name not in names:
                    names.append(name)
                kinds.append(names.index(name))
            else:
                kinds.append(-1)
        meta: dict[str, Any] = {STREAM_META: True, "models": names}
        if len(names) > 1 or -1 in kinds:
            meta["kinds"] = kinds
        return values, meta

    def stream(self, entry: Entry, request: dict[str, Any] | None) -> list[Any]:
        """A stored stream's chunks, rebuilt (``TypeError``/``ValueError`` if they do not fit)."""
        meta = entry.meta or {}
        values = entry.value
        if not isinstance(values, list):
            raise TypeError(f"a stored stream is a list of chunks, not {type(values).__name__}")
        names = meta.get("models") or []
        kinds = meta.get("kinds")
        out = []
        for i, value in enumerate(values):
            index = kinds[i] if isinstance(kinds, list) and i < len(kinds) else 0
            name = names[index] if 0 <= index < len(names) else None
            cls = None if index < 0 else self.chunks.pick(name, request)
            out.append(value if cls is None else mark_hit(build_model(cls, value)))
        return out


def _given(cls: type[Any] | None) -> list[type]:
    if cls is None:
        return []
    if not is_model_class(cls):
        raise ValueError(f"expected a pydantic model class, got {cls!r}")
    return [cls]
