"""The canonical JSON form of request parameters, as :mod:`cachekit._policy._keys`
hashes it: plain JSON values (pydantic models as their JSON form, pydantic classes as
their schema, files by their content digest, SDK "not given" sentinels and
``None``-valued dict fields absent), serialised compactly with sorted keys.

The bytes are a contract (stored keys depend on them): orjson writes them, and what
orjson cannot represent (dict keys that are not strings, integers beyond 64 bits,
lone surrogates) takes a slower path that gives the same bytes a value taking the
fast one would get.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import json
import json.encoder
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from cachekit.exceptions import ConfigurationError

__all__ = [
    "SENTINEL_CLASSES",
    "canonical_bytes",
    "culprit",
    "file_digest",
    "has_nested_none",
    "key_bytes",
    "plain",
    "special",
]


#: Class names of SDK "not given" sentinels (``openai.NOT_GIVEN``, ``openai.omit``):
#: a parameter holding one is absent, exactly like a ``None``-valued one.
SENTINEL_CLASSES = frozenset({"NotGiven", "Omit"})


def _absent(value: Any) -> bool:
    return value is None or type(value).__name__ in SENTINEL_CLASSES


def plain(obj: Any) -> Any:
    """``obj`` as plain JSON values with absent (``None``/sentinel) dict fields dropped at
    every depth."""
    cls = type(obj)
    if cls is dict:
        return {k: plain(v) for k, v in obj.items() if not _absent(v)}
    if cls is list or cls is tuple:
        return [plain(v) for v in obj]
    if cls is str or cls is int or cls is bool or cls is float or obj is None:
        return obj
    return plain(special(obj))


def special(obj: Any) -> Any:
    """The JSON form of a value the encoder does not know (also its ``default`` hook)."""
    if isinstance(obj, bool | int | str):
        return _base_value(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, type):
        schema = _json_schema(obj)
        if schema is not None:  # e.g. a pydantic class as structured outputs' response_format
            return {"$model": obj.__qualname__, "$schema": schema}
    elif hasattr(obj, "model_dump"):  # pydantic v2 models (OpenAI / LiteLLM objects)
        return obj.model_dump(mode="json", exclude_none=True, warnings=False)
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items() if not _absent(v)}
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"$bytes.sha256": hashlib.sha256(obj).hexdigest()}
    if isinstance(obj, set | frozenset):
        return sorted((plain(v) for v in obj), key=canonical_bytes)
    if isinstance(obj, list | tuple):
        return list(obj)
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    raise ConfigurationError(
        f"cannot derive a cache key from a {type(obj).__qualname__} value; "
        "pass JSON-like data or a pydantic model"
    )


def _json_schema(cls: type) -> Any:
    """The JSON schema of a class that has one (pydantic models, and dataclasses or
    TypedDicts when pydantic is loaded), else ``None``."""
    schema = getattr(cls, "model_json_schema", None)
    if schema is not None:
        return schema()
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return None
    try:
        return pydantic.TypeAdapter(cls).json_schema()
    except Exception:
        return None


def _base_value(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return obj.value
    for base in (bool, int, str):
        if isinstance(obj, base):
            return base(obj)
    return obj  # pragma: no cover - only reached for the bases above


def file_digest(value: Any) -> Any:
    """Audio/files are keyed by their content, never by their name.

    Accepts bytes, a file object (read and rewound), a path, or OpenAI's tuple
    form ``(filename, content[, content_type])``.
    """
    if isinstance(value, tuple | list) and len(value) >= 2:
        value = value[1]
    if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isfile(value)):
        with open(value, "rb") as fh:
            value = fh.read()
    read = getattr(value, "read", None)
    if read is not None:
        tell, seek = getattr(value, "tell", None), getattr(value, "seek", None)
        position = tell() if tell is not None else None
        value = read()
        if seek is not None and position is not None:
            seek(position)
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes.sha256": hashlib.sha256(value).hexdigest()}
    return plain(value)


def has_nested_none(obj: Any) -> bool:
    """Whether a ``None`` sits as a dict value anywhere in ``obj`` (through plain dicts,
    lists and tuples): the one thing orjson cannot drop for the key."""
    cls = type(obj)
    if cls is dict:
        values: Any = obj.values()
    elif cls is list or cls is tuple:
        values = obj
    else:
        return False
    for v in values:
        vcls = type(v)
        if vcls is str:  # the common case first
            continue
        if v is None:
            if cls is dict:
                return True
        elif (vcls is dict or vcls is list or vcls is tuple) and has_nested_none(v):
            return True
    return False


_dumps = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def key_bytes(doc: Any) -> bytes:
    """:func:`canonical_bytes` of ``doc``, by one ``orjson.dumps`` with sorted keys for
    the common request (string keys, 64-bit integers, valid UTF-8); anything else raises
    there and takes :func:`canonical_bytes`, whose bytes for a value both can encode
    are the same."""
    try:
        return _dumps(doc, default=special, option=_SORT_KEYS)
    except TypeError as exc:
        if isinstance(exc.__cause__, ConfigurationError):  # our own "cannot key this"
            raise exc.__cause__ from None
        return canonical_bytes(doc)  # non-str dict keys, big ints, lone surrogates


def canonical_bytes(obj: Any) -> bytes:
    """Compact JSON with sorted keys: orjson, or — for what orjson cannot represent
    (integers beyond 64 bits, lone surrogates) — the standard library's C encoder
    with the same settings. A given value always takes the same path."""
    try:
        return orjson.dumps(obj, default=special, option=_OPTIONS)
    except TypeError as exc:
        if isinstance(exc.__cause__, ConfigurationError):  # our own "cannot key this"
            raise exc.__cause__ from None
        return _fallback_dumps(obj).encode("utf-8", "surrogatepass")


def culprit(params: Mapping[str, Any]) -> str:
    """``"parameter 'x': "`` for the first parameter that cannot be encoded (error path only)."""
    for name, value in params.items():
        try:
            canonical_bytes(plain(value))
        except (TypeError, ValueError):
            return f"parameter {name!r}: "
    return ""


def _make_fallback() -> Callable[[Any], str]:
    """Compact, sorted, NaN-refusing JSON through the standard library's C encoder
    (``JSONEncoder.encode`` adds ~2 µs of Python per call)."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pragma: no cover - interpreters without the C accelerator
        return json.JSONEncoder(
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
            allow_nan=False,
            default=special,
        ).encode
    # (markers, default, encoder, indent, key_sep, item_sep, sort_keys, skipkeys, allow_nan)
    encode = c_make_encoder(
        None, special, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    join = "".join
    return lambda obj: join(encode(obj, 0))


_fallback_dumps = _make_fallback()
