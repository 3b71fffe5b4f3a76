"""The stored entry format: a small versioned JSON envelope, never pickle.

An entry is one JSON array with positional fields (positional because parsing
six values is measurably cheaper than a keyed object, and the hit path parses
one envelope per hit)::

    ["cachekit/1", created_at, expires_at | null, call_type, meta | null, value]

``created_at``/``expires_at`` are Unix timestamps in float seconds. ``meta`` is a
small dict (``{"model": "openai.types.chat.ChatCompletion"}``, ``{"stream": true}``…)
or ``null``. Readers treat anything else (corrupted, truncated, foreign, another
format version) as a miss and report an :class:`~cachekit.EntryError`.

Pydantic models are stored as their JSON form (``model_dump(mode="json")``);
``meta["model"]`` records the class name for humans but is never imported: only a
type the caller names is rebuilt.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from cachekit.exceptions import ConfigurationError, EntryError

__all__ = ["ENVELOPE_MAGIC", "Entry", "decode_entry", "encode_entry", "rebuild", "to_json_value"]

ENVELOPE_MAGIC = "cachekit/1"


def _default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"{type(obj).__qualname__} is not JSON serialisable")


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default).encode
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner: no trailing-whitespace regex
_new = tuple.__new__


def to_json_value(value: Any) -> Any:
    """``value`` with a top-level pydantic model replaced by its JSON form."""
    dump = getattr(value, "model_dump", None)
    return value if dump is None else dump(mode="json")


def rebuild(value: Any, model: type[Any] | None) -> Any:
    """``value`` rebuilt into the pydantic ``model`` the caller named (``None``: as is)."""
    if model is None or value is None:
        return value
    validate = getattr(model, "model_validate", None)
    if validate is None:
        raise ConfigurationError(f"response_type must be a pydantic model class, got {model!r}")
    return validate(value)


class Entry(NamedTuple):
    """A decoded envelope (field order is the stored order)."""

    magic: str
    created_at: float
    expires_at: float | None
    call_type: str
    meta: dict[str, Any] | None
    value: Any

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def encode_entry(
    value: Any,
    *,
    call_type: str,
    created_at: float,
    ttl: float | None,
    meta: dict[str, Any] | None = None,
) -> bytes:
    """Serialise ``value`` into envelope bytes; ``ConfigurationError`` if it is not JSON-able."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        meta = {**(meta or {}), "model": f"{type(value).__module__}.{type(value).__qualname__}"}
        value = dump(mode="json")
    expires_at = None if ttl is None else created_at + ttl
    try:
        text = _encode([ENVELOPE_MAGIC, created_at, expires_at, call_type, meta or None, value])
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot store this value as JSON: {exc}") from None
    return text.encode("utf-8", "surrogatepass")


def decode_entry(raw: bytes) -> Entry:
    """Parse envelope bytes; raise :class:`EntryError` for anything that is not one."""
    try:
        text = raw.decode("utf-8", "surrogatepass")
        doc, end = _scan(text, 0)
    except (StopIteration, ValueError, AttributeError, TypeError):
        raise EntryError("stored bytes are not a cachekit entry") from None
    if (
        end != len(text)
        or type(doc) is not list
        or len(doc) != 6
        or doc[0] != ENVELOPE_MAGIC
        or type(doc[1]) not in (float, int)
        or (doc[2] is not None and type(doc[2]) not in (float, int))
        or type(doc[3]) is not str
        or (doc[4] is not None and type(doc[4]) is not dict)
    ):
        raise EntryError(f"stored bytes are not a {ENVELOPE_MAGIC} entry")
    return _new(Entry, doc)
