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

import hashlib
from collections.abc import Mapping
from typing import Any

from cachekit._policy._canonical import (
    SENTINEL_CLASSES,
    culprit,
    file_digest,
    has_nested_none,
    key_bytes,
    plain,
    special,
)
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
    "canonicalise",
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


#: Top-level value types :func:`canonicalise` keeps as they are (containers are walked
#: for a nested ``None``, see :func:`derive_key`).
_KEPT = frozenset({str, int, bool, list, dict, tuple})
_CONTAINERS = frozenset({list, dict, tuple})


def _holds_none(value: Any) -> bool:
    """Whether a normalised top-level value is, or holds, a ``None`` the key drops."""
    return value is None or has_nested_none(value)


def canonicalise(params: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """:func:`canonical_params`, and whether they hold a nested ``None`` (found in the
    same pass over the top level, so :func:`derive_key` need not walk it again)."""
    out: dict[str, Any] = {}
    nested_none = False
    for k, v in params.items():
        cls = type(v)
        if cls in _KEPT and k != "file":
            if k in EXCLUDED_PARAMS:
                continue
            out[k] = v
            if cls in _CONTAINERS and not nested_none:
                nested_none = has_nested_none(v)
        elif v is None or k in EXCLUDED_PARAMS:
            continue
        elif cls is float:
            if v - v != 0:  # NaN or infinite: JSON cannot say it, so it cannot be keyed
                raise ConfigurationError(f"parameter {k!r}: cannot derive a cache key from {v}")
            out[k] = int(v) if v.is_integer() else v
        elif k == "file":
            out[k] = value = file_digest(v)
            nested_none = nested_none or _holds_none(value)
        elif cls.__name__ in SENTINEL_CLASSES:
            continue
        else:
            try:
                out[k] = value = special(v)
            except ConfigurationError as exc:
                raise ConfigurationError(f"parameter {k!r}: {exc}") from None
            nested_none = nested_none or _holds_none(value)
    return out, nested_none


def canonical_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request parameters that form the key, minus the deny-list and absent values
    (``None`` and SDK sentinels).

    Top-level values are normalised here (integral floats become ints, pydantic
    models their JSON form, ``file`` its content digest); nested containers are
    left to the encoder in :func:`derive_key`, which walks them only when needed.
    Non-finite floats cannot be keyed (``ConfigurationError``).
    """
    return canonicalise(params)[0]


def derive_key(
    namespace: str, family: str, params: Mapping[str, Any], nested_none: bool | None = None
) -> str:
    """The full storage key of a request whose params came from :func:`canonical_params`.

    orjson sorts keys, turns tuples into lists and calls ``special`` for anything else;
    ``None``-valued fields nested in dicts are the one thing it cannot drop, so only
    requests that have some are rebuilt first (``nested_none``: whether they do, when
    the caller knows, as :func:`canonicalise` does). The check walks containers, never
    string contents, so it costs the same for 1 KB and 20 KB (a substring search of the
    bytes for ``null`` cost 0.7 µs at 1 KB and 11 µs at 20 KB, most of the gap to a bare
    ``sha256(orjson.dumps(...))``). The encoding: :mod:`cachekit._policy._canonical`.
    """
    if nested_none is None:
        nested_none = has_nested_none(params)
    doc = [family, plain(params) if nested_none else params]
    try:
        data = key_bytes(doc)
    except (TypeError, ValueError) as exc:  # mixed-type dict keys, unknown types
        raise ConfigurationError(f"cannot derive a cache key: {culprit(params)}{exc}") from None
    return f"{KEY_PREFIX}{namespace}:{family}:{_sha256(data).hexdigest()}"


_sha256 = hashlib.sha256
