"""Core keys ↔ S3 object keys: reversible, S3-safe and prefix-preserving.

The core hands the backend keys such as ``cachekit:v2:<namespace>:<family>:<sha256>``
or ``cachekit:v2:<namespace>:<user-key>``, and ``clear`` prefixes such as
``cachekit:v2:<namespace>:``. They are stored as::

    <s3_path>/<namespace>/<rest>          e.g. llm-cache/default/completion.9f86d0…

``<rest>`` is the part of the key after ``cachekit:v2:<namespace>:``, escaped. Keys
that do not start with ``cachekit:v2:`` (the backend used on its own) go to
``<s3_path>/!raw/<escaped key>``.

Escaping works character by character, so the escape of a prefix is a prefix of
the escape of every key that starts with it: a ``clear`` prefix maps to one S3
listing prefix. Only characters S3 documents as safe are emitted
(``A-Z a-z 0-9 - _ . !``), never ``/`` inside a segment, never an empty, ``.`` or
``..`` segment (MinIO and URL normalisers reject or rewrite those):

* namespace segment: ``A-Z a-z 0-9 _ . -`` are kept, except a leading ``.``;
* rest segment: ``A-Z a-z 0-9 _ -`` are kept, ``:`` becomes ``.`` (except in first
  position);
* every other character becomes ``!XX`` per UTF-8 byte (upper-case hex), e.g.
  ``/`` → ``!2F``, ``.`` in a rest → ``!2E``, ``☃`` → ``!E2!98!83``;
* an empty namespace or rest is the segment ``!`` (no empty segments).

Decoding accepts only the canonical form (it re-encodes and compares), so objects
that cachekit did not write are never mistaken for entries and never deleted by
``clear``.
"""

from __future__ import annotations

import re
import string

from cachekit import KEY_PREFIX

__all__ = ["MAX_KEY_BYTES", "RAW_SEGMENT", "KeyLayout", "escape_namespace", "escape_rest"]

#: S3's limit on an object key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
#: The first segment under ``s3_path`` for keys without the ``cachekit:v2:`` prefix.
RAW_SEGMENT = "!raw"
#: The segment standing for an empty namespace or rest.
_EMPTY = "!"

_ALNUM = string.ascii_letters + string.digits
_NS_KEEP = frozenset(_ALNUM + "_.-")
_REST_KEEP = frozenset(_ALNUM + "_-")
_NS_FAST = re.compile(r"(?:[A-Za-z0-9_\-][A-Za-z0-9_.\-]*)?")
_REST_FAST = re.compile(r"(?:[A-Za-z0-9_\-][A-Za-z0-9_:\-]*)?")
_HEX = frozenset("0123456789ABCDEF")
_PREFIX_LEN = len(KEY_PREFIX)


def _bytes_escape(ch: str) -> str:
    return "".join(f"!{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def escape_namespace(text: str) -> str:
    """Escape (part of) a namespace; ``""`` stays ``""`` (see :meth:`KeyLayout.object_key`)."""
    if _NS_FAST.fullmatch(text):
        return text
    out = []
    for i, ch in enumerate(text):
        if ch in _NS_KEEP and (i or ch != "."):
            out.append(ch)
        else:
            out.append(_bytes_escape(ch))
    return "".join(out)


def escape_rest(text: str) -> str:
    """Escape (part of) the rest of a key; ``""`` stays ``""``."""
    if _REST_FAST.fullmatch(text):
        return text.replace(":", ".")
    out = []
    for i, ch in enumerate(text):
        if ch in _REST_KEEP:
            out.append(ch)
        elif ch == ":" and i:
            out.append(".")
        else:
            out.append(_bytes_escape(ch))
    return "".join(out)


def _unescape(segment: str, *, rest: bool) -> str | None:
    """Invert an escape; ``None`` when ``segment`` is not in canonical form."""
    if segment == _EMPTY:
        return ""
    if not segment:
        return None
    out: list[str] = []
    pending = bytearray()
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        if ch == "!":
            digits = segment[i + 1 : i + 3]
            if len(digits) != 2 or not _HEX.issuperset(digits):
                return None
            pending.append(int(digits, 16))
            i += 3
            continue
        if pending:
            try:
                out.append(pending.decode("utf-8", "surrogatepass"))
            except UnicodeDecodeError:
                return None
            pending.clear()
        out.append(":" if rest and ch == "." else ch)
        i += 1
    if pending:
        try:
            out.append(pending.decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError:
            return None
    text = "".join(out)
    if (escape_rest(text) if rest else escape_namespace(text)) != segment:
        return None  # not canonical: someone else's object
    return text


class KeyLayout:
    """Where the core's keys live in a bucket, under an optional ``s3_path``."""

    __slots__ = ("base", "base_bytes")

    def __init__(self, s3_path: str = "") -> None:
        path = "/".join(part for part in s3_path.split("/") if part)
        #: Every object key starts with this (``""`` or ``"<s3_path>/"``).
        self.base = f"{path}/" if path else ""
        self.base_bytes = len(self.base.encode("utf-8"))

    def object_key(self, key: str) -> str:
        """The object key of a core key (may exceed :data:`MAX_KEY_BYTES`; see :meth:`fits`)."""
        if key.startswith(KEY_PREFIX):
            namespace, sep, rest = key[_PREFIX_LEN:].partition(":")
            if sep:
                ns_seg = escape_namespace(namespace) or _EMPTY
                return f"{self.base}{ns_seg}/{escape_rest(rest) or _EMPTY}"
        return f"{self.base}{RAW_SEGMENT}/{escape_rest(key) or _EMPTY}"

    def fits(self, object_key: str) -> bool:
        """Whether ``object_key`` (from :meth:`object_key`) is within S3's limit."""
        return self.base_bytes + len(object_key) - len(self.base) <= MAX_KEY_BYTES

    def core_key(self, object_key: str) -> str | None:
        """The core key stored at ``object_key``, or ``None`` for a foreign object."""
        base = self.base
        if not object_key.startswith(base):
            return None
        first, sep, second = object_key[len(base) :].partition("/")
        if not sep:
            return None
        rest = _unescape(second, rest=True)
        if rest is None:
            return None
        if first == RAW_SEGMENT:
            return None if rest.startswith(KEY_PREFIX) and ":" in rest[_PREFIX_LEN:] else rest
        namespace = _unescape(first, rest=False)
        if namespace is None:
            return None
        return f"{KEY_PREFIX}{namespace}:{rest}"

    def listing_prefix(self, prefix: str) -> str:
        """An S3 prefix under which every object whose core key starts with ``prefix`` lies.

        It can be broader than needed (``prefix=""`` lists everything under
        ``s3_path``), so callers filter the listing with :meth:`core_key`.
        """
        base = self.base
        if prefix.startswith(KEY_PREFIX):
            namespace, sep, rest = prefix[_PREFIX_LEN:].partition(":")
            if not sep:  # a partial namespace: raw keys such as "cachekit:v2:x" may match too
                return base
            return f"{base}{escape_namespace(namespace) or _EMPTY}/{escape_rest(rest)}"
        if KEY_PREFIX.startswith(prefix):
            return base
        return f"{base}{RAW_SEGMENT}/{escape_rest(prefix)}"
