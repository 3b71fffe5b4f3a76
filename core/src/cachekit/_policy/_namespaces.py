"""Namespaces and storage keys: the ``cachekit:v2:<namespace>:`` prefix every entry
lives under, and the checks a caller-given key passes before any I/O."""

from __future__ import annotations

import re

from cachekit.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_NAMESPACE",
    "FORMAT_VERSION",
    "KEY_PREFIX",
    "MAX_KEY_BYTES",
    "namespace_prefix",
    "storage_key",
    "validate_namespace",
]

FORMAT_VERSION = "v2"
KEY_PREFIX = f"cachekit:{FORMAT_VERSION}:"
DEFAULT_NAMESPACE = "default"

_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


def validate_namespace(namespace: object) -> str:
    """Return ``namespace`` if it is usable in a key, else raise ``ConfigurationError``.

    Letters, digits, ``_``, ``.`` and ``-`` only (at most 128): a ``:`` would let one
    namespace's prefix match another's keys.
    """
    if not isinstance(namespace, str) or _NAMESPACE_RE.fullmatch(namespace) is None:
        raise ConfigurationError(
            f"namespace must be 1-128 characters of letters, digits, '_', '.' or '-'; "
            f"got {namespace!r}"
        )
    return namespace


#: Longest storage key, in UTF-8 bytes (S3 object keys stop at 1024).
MAX_KEY_BYTES = 1000


def storage_key(key: object, namespace: str) -> str:
    """The full storage key of a caller-given ``key`` inside ``namespace``.

    A key that already is a full key (``cachekit:v2:…``) is accepted only inside
    ``namespace``: a namespaced cache never reads or deletes another namespace's
    entries. Keys are checked before any I/O (``ConfigurationError``): non-empty text
    that encodes as UTF-8 (no lone surrogates), at most :data:`MAX_KEY_BYTES` in all.
    """
    if type(key) is not str or not key:
        raise ConfigurationError(f"cache keys are non-empty strings, got {key!r}")
    full = key if key.startswith(KEY_PREFIX) else f"{KEY_PREFIX}{namespace}:{key}"
    try:
        size = len(full.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigurationError(
            "cache keys must be valid Unicode text (no lone surrogates)"
        ) from None
    if size > MAX_KEY_BYTES:
        raise ConfigurationError(f"cache key is {size} bytes long; at most {MAX_KEY_BYTES}")
    if full is key and not key.startswith(f"{KEY_PREFIX}{namespace}:"):
        raise ConfigurationError(
            f"key {key!r} is a full key of another namespace; this cache uses {namespace!r}"
        )
    return full


def namespace_prefix(namespace: str) -> str:
    """The prefix every key of ``namespace`` starts with (what ``clear`` removes)."""
    return f"{KEY_PREFIX}{namespace}:"
