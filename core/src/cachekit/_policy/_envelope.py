"""The stored entry format: a small versioned JSON header, then the value's JSON.

Never pickle. An entry is two compact JSON documents separated by a newline::

    ["cachekit/2",created_at,expires_at|null,"call_type",meta|null]\\n<value as JSON>

``created_at``/``expires_at`` are finite Unix timestamps in float seconds;
``expires_at`` is the end of the entry's freshness (its TTL). An entry written with a
stale window (``stale-while-revalidate``/``stale-if-error``) records that window as
``meta["stale_s"]`` and is kept by the backend that much longer. ``meta`` is
a small dict (``{"model": "openai.types.chat.ChatCompletion"}``, ``{"stream": true}``…)
or ``null``. Compact JSON never holds a raw newline, so the first ``\\n`` ends the
header; the value bytes after it are kept as they are (:attr:`Entry.payload`), so a
typed hit can hand them straight to pydantic (``model_validate_json``) and an untyped
one to orjson, and a step that protects payloads treats the value as one opaque blob.

Readers treat anything else (corrupted, truncated, foreign, another format version,
non-finite timestamps, JSON nested deeper than the encoder allows) as a miss and
report an :class:`~cachekit.EntryError`.

Values are serialised with orjson (dict keys as strings, pydantic models as their
``model_dump(mode="json")``). What orjson cannot represent — integers beyond 64 bits,
strings with lone surrogates — falls back to the standard library's encoder, whose
output the standard decoder reads back. Non-finite floats inside a value are written
as ``null``, as JSON has no other spelling for them. A value nested more than
:data:`MAX_DEPTH` levels deep is refused (``ConfigurationError``): a reader must never
be made to recurse without bound by what a writer stored.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from cachekit.exceptions import ConfigurationError, EntryError

__all__ = [
    "ENVELOPE_MAGIC",
    "MAX_DEPTH",
    "STALE_META",
    "Entry",
    "decode_entry",
    "decode_payload",
    "encode_entry",
    "encode_payload",
    "to_json_value",
]

ENVELOPE_MAGIC = "cachekit/2"

#: The ``meta`` field recording how long past ``expires_at`` an entry is kept (its
#: largest stale window at write time; the backend was given ``ttl`` plus this).
STALE_META = "stale_s"

#: Deepest nesting a stored value may have (orjson's encoder stops at 255 levels).
MAX_DEPTH = 254

_OPTIONS = orjson.OPT_NON_STR_KEYS
_NL = b"\n"
_loads = orjson.loads
_dumps = orjson.dumps
_isfinite = math.isfinite
_NUMBERS = (float, int)


def _default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(mode="json", warnings=False)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"{type(obj).__qualname__} is not JSON serialisable")


def to_json_value(value: Any) -> Any:
    """``value`` with a top-level pydantic model replaced by its JSON form."""
    dump = getattr(value, "model_dump", None)
    return value if dump is None else dump(mode="json", warnings=False)


def encode_payload(value: Any) -> bytes:
    """``value`` as compact JSON bytes; ``ConfigurationError`` if it cannot be stored."""
    try:
        return _dumps(value, default=_default, option=_OPTIONS)
    except TypeError as exc:
        if "Recursion limit" in str(exc):
            raise ConfigurationError(
                f"cannot store this value: it is nested more than {MAX_DEPTH} levels deep"
            ) from None
        first = exc
    try:  # integers beyond 64 bits, lone surrogates: the standard library can
        text = json.dumps(
            value, ensure_ascii=True, separators=(",", ":"), allow_nan=False, default=_default
        )
    except RecursionError:
        raise ConfigurationError("cannot store this value: it is nested too deep") from None
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot store this value as JSON: {exc or first}") from None
    return text.encode()


def decode_payload(payload: bytes | memoryview) -> Any:
    """The value stored in ``payload``; ``EntryError`` if it is not JSON."""
    try:
        return _loads(payload)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise EntryError(f"stored value is nested deeper than {MAX_DEPTH} levels") from None
    try:  # what encode_payload wrote through its fallback
        return json.loads(bytes(payload))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise EntryError("stored value is not JSON") from None


class Entry:
    """A decoded entry. ``payload`` holds the value's JSON bytes; :attr:`value` parses
    them on first use; :attr:`result` is what the read path materialised for its caller."""

    __slots__ = (
        "_value",
        "call_type",
        "created_at",
        "expires_at",
        "held",
        "meta",
        "payload",
        "result",
        "similarity",
        "stale_s",
    )

    def __init__(
        self,
        created_at: float,
        expires_at: float | None,
        call_type: str,
        meta: dict[str, Any] | None,
        payload: bytes,
    ) -> None:
        self.created_at = created_at
        self.expires_at = expires_at
        self.call_type = call_type
        self.meta = meta
        self.payload = payload
        self._value: Any = _UNREAD
        #: The value as the reader wanted it (rebuilt into its type), once materialised.
        self.result: Any = None
        #: For a semantic hit: the cosine similarity of the match.
        self.similarity: float | None = None
        #: Seconds past its freshness (``expires_at``) when read; ``0.0`` for a fresh entry.
        self.stale_s = 0.0
        #: A stale entry kept only for ``stale-if-error``: the read counts as a miss.
        self.held = False

    @property
    def value(self) -> Any:
        """The stored value as plain JSON data (a fresh object each time it is parsed)."""
        value = self._value
        if value is _UNREAD:
            value = self._value = decode_payload(self.payload)
        return value

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    @property
    def stale_bound(self) -> float:
        """How long past its freshness the writer kept this entry (``meta["stale_s"]``;
        ``0.0`` for entries written without a stale window, older ones included)."""
        meta = self.meta
        bound = None if meta is None else meta.get(STALE_META)
        if isinstance(bound, int | float) and _isfinite(bound) and bound > 0:
            return float(bound)
        return 0.0

    def __repr__(self) -> str:
        return (
            f"Entry(call_type={self.call_type!r}, created_at={self.created_at!r}, "
            f"expires_at={self.expires_at!r}, meta={self.meta!r}, {len(self.payload)} bytes)"
        )


_UNREAD: Any = object()


def encode_entry(
    value: Any,
    *,
    call_type: str,
    created_at: float,
    ttl: float | None,
    meta: dict[str, Any] | None = None,
) -> bytes:
    """Serialise ``value`` into entry bytes; ``ConfigurationError`` if it cannot be stored."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        cls = type(value)
        meta = {**(meta or {}), "model": f"{cls.__module__}.{cls.__qualname__}"}
        value = dump(mode="json", warnings=False)
    expires_at = None if ttl is None else created_at + ttl
    header = _dumps([ENVELOPE_MAGIC, created_at, expires_at, call_type, meta or None])
    return header + _NL + encode_payload(value)


def decode_entry(raw: bytes) -> Entry:
    """Parse entry bytes; raise :class:`EntryError` for anything that is not one."""
    try:
        end = raw.index(_NL)
        magic, created_at, expires_at, call_type, meta = _loads(raw[:end])
    except (ValueError, TypeError, AttributeError):  # not JSON, not 5 fields, not bytes
        raise EntryError("stored bytes are not a cachekit entry") from None
    if (
        magic != ENVELOPE_MAGIC
        or type(call_type) is not str
        or (meta is not None and type(meta) is not dict)
    ):
        raise EntryError(f"stored bytes are not a {ENVELOPE_MAGIC} entry")
    if type(created_at) not in _NUMBERS or not _isfinite(created_at):
        raise EntryError("entry has no valid creation time")
    if expires_at is not None and (type(expires_at) not in _NUMBERS or not _isfinite(expires_at)):
        raise EntryError("entry has no valid expiry time")
    return Entry(created_at, expires_at, call_type, meta, raw[end + 1 :])
