"""The pluggable steps of the engine's read and write paths, and their types: the
semantic fallback after an exact miss, the materialise step that turns an entry into
the caller's value, and the protection step around stored bytes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import orjson

from cachekit._policy._envelope import Entry, decode_payload
from cachekit._policy._models import is_model_class, rebuild_payload
from cachekit.exceptions import ConfigurationError, EntryError

__all__ = [
    "Fallback",
    "Materialize",
    "Protector",
    "kv_materializer",
    "materialize",
    "plain_value",
    "write_items",
]

_loads = orjson.loads


#: A read step run after the exact key missed (semantic lookup): ``(entry, similarity)``.
Fallback = Callable[[], Awaitable[tuple[Entry | None, float | None]]]

#: The last read step: an entry turned into the caller's value (raise: it does not fit).
Materialize = Callable[[Entry], Any]


class Protector(Protocol):
    """A protection step around stored bytes (encryption at rest): ``seal`` what the
    write path stores under ``key``; ``open`` what the read path fetched, raising
    :class:`~cachekit.EntryError` for bytes it cannot vouch for (a wrong key, a
    tampered entry, an entry moved from another key)."""

    def seal(self, key: str, raw: bytes) -> bytes: ...

    def open(self, key: str, raw: bytes) -> bytes: ...

    def opener(self, key: str, raw: bytes) -> tuple[bytes, Callable[[], bytes]]:
        """``open(key, raw)``, and a call that repeats it (checks included) for a reader
        that opens the same stored bytes again and again."""
        ...


def materialize(entry: Entry, materialize: Materialize) -> EntryError | None:
    """Run the read path's last step; the reason it failed, or ``None``."""
    try:
        entry.result = materialize(entry)
    except Exception as exc:  # a corrupt value, or one that does not fit the caller's type
        if isinstance(exc, EntryError):
            return exc
        return EntryError(f"stored value does not fit the call: {type(exc).__name__}: {exc}")
    return None


def plain_value(entry: Entry) -> Any:
    """The :data:`Materialize` step of untyped reads: the stored value as JSON data."""
    try:
        return _loads(entry.payload)
    except ValueError:
        return entry.value  # the fallback decoder, or an EntryError


def write_items(mapping: Mapping[str, Any]) -> list[tuple[str, Any, None]]:
    """``{key: value}`` as :meth:`Engine.write_many` items without metadata."""
    return [(key, value, None) for key, value in mapping.items()]


def kv_materializer(response_type: type[Any] | None) -> Materialize:
    """The read path's last step for the key-value API: JSON data, or the model named."""
    if response_type is None:
        return plain_value
    if not is_model_class(response_type):
        raise ConfigurationError(
            f"response_type must be a pydantic model class, got {response_type!r}"
        )
    return lambda entry: rebuild_payload(entry.payload, response_type, decode_payload)
