"""Cache keys for LLM requests: canonical, delimited, namespaced, versioned.

A key is ``cachekit:v2:<namespace>:<family>:<sha256>``. The digest covers the
call family and every request parameter except a deny-list of transport,
credential and bookkeeping parameters: an unknown (new) provider parameter is
always part of the key, because a cache that drops a parameter which changes the
answer serves wrong answers.

Canonical form: the parameters are turned into plain JSON values (dict order,
tuple-vs-list, ``None``-valued fields, ``1.0``-vs-``1`` and pydantic models vs
their dict form do not matter) and serialised as compact JSON with sorted keys.
JSON is delimited and escaped, so no pair of different requests can produce the
same bytes (no string concatenation of values anywhere).
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

from cachekit._policy._namespaces import (
    DEFAULT_NAMESPACE,
    KEY_PREFIX,
    namespace_prefix,
    storage_key,
    validate_namespace,
)
from cachekit.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_CALL_TYPES",
    "DEFAULT_NAMESPACE",
    "EXCLUDED_PARAMS",
    "KEY_PREFIX",
    "LLM_FAMILIES",
    "call_family",
    "canonical_params",
    "derive_key",
    "infer_call_type",
    "namespace_prefix",
    "storage_key",
    "validate_namespace",
]


#: Call families; ``a<family>`` is the async twin and shares its entries.
FAMILIES = frozenset(
    {
        "completion",
        "text_completion",
        "embedding",
        "transcription",
        "translation",
        "image_generation",
        "speech",
        "moderation",
        "rerank",
        "responses",
        "kv",
    }
)

#: Families of provider calls (every family but the key-value API's ``kv``).
LLM_FAMILIES = FAMILIES - {"kv"}

#: Call types a ``Cache`` serves unless ``supported_call_types`` says otherwise.
DEFAULT_CALL_TYPES = (
    "completion",
    "acompletion",
    "text_completion",
    "atext_completion",
    "embedding",
    "aembedding",
    "transcription",
    "atranscription",
    "translation",
    "atranslation",
    "responses",
    "aresponses",
)

#: Parameters that never change the provider's answer: credentials, transport,
#: retries, headers, bookkeeping, and the ``cache`` controls themselves.
EXCLUDED_PARAMS = frozenset(
    {
        # credentials
        "api_key",
        "azure_ad_token",
        "azure_ad_token_provider",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_profile_name",
        "vertex_credentials",
        "organization",
        # transport and retries
        "timeout",
        "request_timeout",
        "stream_timeout",
        "connect_timeout",
        "max_retries",
        "num_retries",
        "retry_policy",
        "headers",
        "extra_headers",
        "default_headers",
        "client",
        "http_client",
        # bookkeeping
        "metadata",
        "litellm_metadata",
        "litellm_call_id",
        "litellm_logging_obj",
        "logger_fn",
        "proxy_server_request",
        "caching",
        "cache",
        "call_type",
    }
)


def call_family(call_type: str) -> str:
    """``"acompletion"`` → ``"completion"``; a family or an unknown type is returned as is."""
    if call_type in FAMILIES:
        return call_type
    if call_type[:1] == "a" and call_type[1:] in FAMILIES:
        return call_type[1:]
    return call_type


def infer_call_type(params: Mapping[str, Any]) -> str:
    """Guess the family of a request that does not name one (LiteLLM's ``get_cache_key``)."""
    explicit = params.get("call_type")
    if isinstance(explicit, str) and explicit:
        return call_family(explicit)
    if "messages" in params:
        return "completion"
    if "input" in params:
        return "embedding"
    if "file" in params:
        return "transcription"
    if "prompt" in params:
        return "text_completion"
    return "completion"


#: Class names of SDK "not given" sentinels (``openai.NOT_GIVEN``, ``openai.omit``):
#: a parameter holding one is absent, exactly like a ``None``-valued one.
_SENTINEL_CLASSES = frozenset({"NotGiven", "Omit"})


def _absent(value: Any) -> bool:
    return value is None or type(value).__name__ in _SENTINEL_CLASSES


def _plain(obj: Any) -> Any:
    """``obj`` as plain JSON values with absent (``None``/sentinel) dict fields dropped at
    every depth."""
    cls = type(obj)
    if cls is dict:
        return {k: _plain(v) for k, v in obj.items() if not _absent(v)}
    if cls is list or cls is tuple:
        return [_plain(v) for v in obj]
    if cls is str or cls is int or cls is bool or cls is float or obj is None:
        return obj
    return _plain(_special(obj))


def _special(obj: Any) -> Any:
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
        return sorted((_plain(v) for v in obj), key=canonical_bytes)
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


def _file_digest(value: Any) -> Any:
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
    return _plain(value)


def _has_nested_none(obj: Any) -> bool:
    cls = type(obj)
    if cls is dict:
        for v in obj.values():
            if v is None:
                return True
            vcls = type(v)
            if (vcls is dict or vcls is list or vcls is tuple) and _has_nested_none(v):
                return True
    elif cls is list or cls is tuple:
        for v in obj:
            vcls = type(v)
            if (vcls is dict or vcls is list or vcls is tuple) and _has_nested_none(v):
                return True
    return False


def canonical_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request parameters that form the key, minus the deny-list and absent values
    (``None`` and SDK sentinels).

    Top-level values are normalised here (integral floats become ints, pydantic
    models their JSON form, ``file`` its content digest); nested containers are
    left to the encoder in :func:`derive_key`, which walks them only when needed.
    Non-finite floats cannot be keyed (``ConfigurationError``).
    """
    out: dict[str, Any] = {}
    for k, v in params.items():
        if v is None or k in EXCLUDED_PARAMS:
            continue
        cls = type(v)
        if cls is str or cls is list or cls is dict or cls is int or cls is bool or cls is tuple:
            out[k] = v if k != "file" else _file_digest(v)
        elif cls is float:
            if v - v != 0:  # NaN or infinite: JSON cannot say it, so it cannot be keyed
                raise ConfigurationError(f"parameter {k!r}: cannot derive a cache key from {v}")
            out[k] = int(v) if v.is_integer() else v
        elif k == "file":
            out[k] = _file_digest(v)
        elif cls.__name__ in _SENTINEL_CLASSES:
            continue
        else:
            try:
                out[k] = _special(v)
            except ConfigurationError as exc:
                raise ConfigurationError(f"parameter {k!r}: {exc}") from None
    return out


def derive_key(namespace: str, family: str, params: Mapping[str, Any]) -> str:
    """The full storage key of a request whose params came from :func:`canonical_params`.

    orjson sorts keys, turns tuples into lists and calls :func:`_special` for anything
    else; ``None``-valued fields nested in dicts are the one thing it cannot drop, so
    only requests that have some are rebuilt first. The check walks containers, never
    string contents, so it costs the same for 1 KB and 20 KB (a substring search of
    the bytes for ``null`` cost 0.7 µs at 1 KB and 11 µs at 20 KB, most of the gap to
    a bare ``sha256(orjson.dumps(...))``).
    """
    try:
        # A nested None must not change the key: rebuild the (rare) requests with one.
        data = canonical_bytes([family, _plain(params) if _has_nested_none(params) else params])
    except (TypeError, ValueError) as exc:  # mixed-type dict keys, unknown types
        raise ConfigurationError(f"cannot derive a cache key: {_culprit(params)}{exc}") from None
    return f"{KEY_PREFIX}{namespace}:{family}:{_sha256(data).hexdigest()}"


_sha256 = hashlib.sha256
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_bytes(obj: Any) -> bytes:
    """Compact JSON with sorted keys: orjson, or — for what orjson cannot represent
    (integers beyond 64 bits, lone surrogates) — the standard library's C encoder
    with the same settings. A given value always takes the same path."""
    try:
        return orjson.dumps(obj, default=_special, option=_OPTIONS)
    except TypeError as exc:
        if isinstance(exc.__cause__, ConfigurationError):  # our own "cannot key this"
            raise exc.__cause__ from None
        return _fallback_dumps(obj).encode("utf-8", "surrogatepass")


def _culprit(params: Mapping[str, Any]) -> str:
    """``"parameter 'x': "`` for the first parameter that cannot be encoded (error path only)."""
    for name, value in params.items():
        try:
            canonical_bytes(_plain(value))
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
            default=_special,
        ).encode
    # (markers, default, encoder, indent, key_sep, item_sep, sort_keys, skipkeys, allow_nan)
    encode = c_make_encoder(
        None, _special, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    join = "".join
    return lambda obj: join(encode(obj, 0))


_fallback_dumps = _make_fallback()
