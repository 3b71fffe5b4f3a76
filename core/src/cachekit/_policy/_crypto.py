"""Encryption at rest: AES-256-GCM around every stored entry, bound to its storage key.

``Cache(encryption_key=...)`` / ``encryption_keys=[current, *older]`` put an
:class:`AesGcmProtector` on the engine's read and write paths (the engine's
``Protector`` step): the entry bytes (envelope and value) are encrypted after they
are encoded and decrypted before they are decoded, for every backend, exact or
semantic. Stored format::

    offset  size   field
    0       4      magic b"CKE1" (format version 1; a plaintext envelope starts with '[')
    4       4      key id: the first 4 bytes of SHA-256(b"cachekit/key-id/v1" 0x00 key)
    8       12     nonce, fresh from os.urandom for every write
    20      n + 16 AES-256-GCM ciphertext of the n entry bytes, then the 16-byte tag

The associated data is the first 8 bytes (magic and key id) followed by the UTF-8
storage key (``cachekit:v2:<namespace>:…``): bytes copied under another key or
namespace do not decrypt. Writes use the first key; reads pick the key named by the
key id, so entries written with an older listed key still read during a rotation.
The key id is a short hash of the key (it identifies, it cannot reveal, a random
256-bit key); the key itself never appears in a repr, log, event or error message.

Anything a reader cannot vouch for raises :class:`~cachekit.EntryError`, which the
engine turns into a miss plus an error event: an unknown key id, a failed tag check
(a wrong key, a tampered byte, an entry moved from another key), a truncated entry,
and a plaintext entry unless ``allow_plaintext_reads=True`` (a migration).

Random 96-bit nonces are safe for about 2**32 writes per key (NIST SP 800-38D);
rotate keys well before a key has written billions of entries.

Cost, measured on the development machine for a 1 KB entry: ``seal`` ~3.9 µs (0.7 µs
of it the nonce), ``open`` ~3.7 µs, of which ``cryptography``'s decrypt is ~2.2 µs
(~1.6 µs fixed per call, whatever the size). A ``local`` hit opens through
:meth:`AesGcmProtector.opener` (set up once per stored entry, then the decrypt alone:
~0.8 µs on the 2-core benchmark machine), ~1.8 → ~3.1 µs against the unencrypted hit
(benchmarks/workloads/encryption.py). ``cryptography`` is imported when a cache with a
key is built, not when cachekit is imported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from cachekit.exceptions import ConfigurationError, EntryError

__all__ = [
    "INSTALL_HINT",
    "KEY_BYTES",
    "MAGIC",
    "AesGcmProtector",
    "key_id",
    "parse_key",
    "parse_key_list",
    "parse_keys",
]

MAGIC = b"CKE1"
KEY_BYTES = 32
_ID_BYTES = 4
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEAD = len(MAGIC) + _ID_BYTES  # 8: the bytes bound as associated data before the key
_BODY = _HEAD + _NONCE_BYTES  # 20: where the ciphertext starts
_MIN_SIZE = _BODY + _TAG_BYTES
_ID_LABEL = b"cachekit/key-id/v1\x00"

INSTALL_HINT = (
    'encryption needs the "cryptography" package: pip install "cachekit-core[encryption]"'
)

_urandom = os.urandom


def _aead() -> tuple[Any, type[Exception]]:
    """``AESGCM`` and ``InvalidTag``, imported on first use (a clear error if missing)."""
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise ConfigurationError(INSTALL_HINT) from exc
    return AESGCM, InvalidTag


def key_id(key: bytes) -> bytes:
    """The 4-byte id stored with each entry to name the key that sealed it."""
    return hashlib.sha256(_ID_LABEL + key).digest()[:_ID_BYTES]


def parse_key(value: object, label: str) -> bytes:
    """One key as 32 bytes: raw ``bytes``, or base64 text (standard or URL-safe
    alphabet, padding optional). Errors name ``label`` and the problem, never the value."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != KEY_BYTES:
            raise ConfigurationError(
                f"{label} must be {KEY_BYTES} bytes for AES-256, got {len(raw)} bytes "
                "(raw bytes, or base64 text as a str)"
            )
        return raw
    if isinstance(value, str):
        text = "".join(value.split())
        padded = text + "=" * (-len(text) % 4)
        try:
            altchars = b"-_" if ("-" in text or "_" in text) else None
            raw = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                f"{label} is not base64 text (generate a key with: "
                'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())")'
            ) from None
        if len(raw) != KEY_BYTES:
            raise ConfigurationError(
                f"{label} decodes to {len(raw)} bytes; AES-256 needs {KEY_BYTES}"
            )
        return raw
    raise ConfigurationError(
        f"{label} must be bytes or base64 text (or a callable returning one), "
        f"got {type(value).__name__}"
    )


def _resolve(source: object, label: str) -> object:
    """Call a key source given as a zero-argument callable (a secret manager lookup)."""
    if callable(source) and not isinstance(source, bytes | bytearray | memoryview | str):
        try:
            return source()
        except Exception as exc:
            # The type only: a secret manager's message is not ours to print.
            raise ConfigurationError(
                f"{label}: the key callable raised {type(exc).__name__}"
            ) from exc
    return source


def parse_keys(encryption_key: object = None, encryption_keys: object = None) -> list[bytes] | None:
    """The keys ``Cache(encryption_key=... | encryption_keys=...)`` names, current first
    (duplicates dropped), or ``None`` for an unencrypted cache. Key sources given as
    callables are called here, once, when the cache is built."""
    if encryption_key is not None and encryption_keys is not None:
        raise ConfigurationError(
            "give encryption_key (one key) or encryption_keys ([current, *older]), not both"
        )
    if encryption_key is not None:
        return [parse_key(_resolve(encryption_key, "encryption_key"), "encryption_key")]
    if encryption_keys is None:
        return None
    listed = _resolve(encryption_keys, "encryption_keys")
    if isinstance(listed, bytes | bytearray | memoryview | str) or not isinstance(listed, Iterable):
        raise ConfigurationError(
            "encryption_keys must be a list of keys [current, *older] "
            f"(got {type(listed).__name__}); for a single key use encryption_key="
        )
    keys: list[bytes] = []
    for i, item in enumerate(listed):
        key = parse_key(item, f"encryption_keys[{i}]")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise ConfigurationError("encryption_keys is empty; give at least the current key")
    return keys


def parse_key_list(value: object, label: str) -> list[bytes]:
    """One key or a list of keys (or a callable returning either) as 32-byte keys."""
    value = _resolve(value, label)
    if value is None:
        return []
    if isinstance(value, bytes | bytearray | memoryview | str):
        return [parse_key(value, label)]
    if not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{label} must be a key or a list of keys, got {type(value).__name__}"
        )
    return [parse_key(item, f"{label}[{i}]") for i, item in enumerate(value)]


def _utf8(key: str) -> bytes:
    """A storage key's bytes (lone surrogates, which a str may hold, kept as they are)."""
    try:
        return key.encode()
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogatepass")


def _unauthentic(raw: bytes) -> EntryError:
    """Why ``raw``, under one of the cache's key ids, opens with none of its keys."""
    if len(raw) < _MIN_SIZE:
        return EntryError(f"an encrypted entry of {len(raw)} bytes is truncated")
    return EntryError(
        f"an entry under key id {raw[len(MAGIC) : _HEAD].hex()} fails authentication: "
        "tampered with, or copied from another key or namespace"
    )


class AesGcmProtector:
    """The engine's protection step for an encrypted cache (see the module docstring).

    ``keys[0]`` seals every write; any of ``keys`` opens a read. With
    ``allow_plaintext_reads`` an unencrypted entry is served as it is (a migration
    from an unencrypted cache); without it, it is an :class:`EntryError`.
    """

    __slots__ = (
        "_by_head",
        "_current",
        "_head",
        "_invalid_tag",
        "_keys",
        "allow_plaintext_reads",
        "current_id",
        "key_ids",
    )

    def __init__(self, keys: Sequence[bytes], *, allow_plaintext_reads: bool = False) -> None:
        if not keys:
            raise ConfigurationError("an encrypted cache needs at least one key")
        aesgcm, self._invalid_tag = _aead()
        # Keyed by the 8-byte head (magic + key id): one lookup checks both on a read.
        by_head: dict[bytes, list[Any]] = {}
        ids: list[bytes] = []
        unique = list(dict.fromkeys(keys))
        for key in unique:
            if len(key) != KEY_BYTES:
                raise ConfigurationError(f"encryption keys must be {KEY_BYTES} bytes")
            kid = key_id(key)
            ids.append(kid)
            by_head.setdefault(MAGIC + kid, []).append(aesgcm(key))
        self._keys = tuple(unique)  # for with_keys; never shown (see __repr__)
        self._by_head = by_head
        self._current = by_head[MAGIC + ids[0]][0]
        self.current_id = ids[0]
        self._head = MAGIC + ids[0]
        #: Hex ids of the keys, current first (safe to show; they are not the keys).
        self.key_ids: tuple[str, ...] = tuple(dict.fromkeys(kid.hex() for kid in ids))
        self.allow_plaintext_reads = bool(allow_plaintext_reads)

    def __repr__(self) -> str:
        return (
            f"AesGcmProtector(key_ids={list(self.key_ids)!r}, "
            f"allow_plaintext_reads={self.allow_plaintext_reads})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("an encryption protector holds keys and cannot be pickled")

    # -- the engine's Protector ------------------------------------------------------
    def seal(self, key: str, raw: bytes) -> bytes:
        """``raw`` (entry bytes) encrypted under the current key, bound to ``key``."""
        head = self._head
        nonce = _urandom(_NONCE_BYTES)
        sealed: bytes = self._current.encrypt(nonce, raw, head + _utf8(key))
        return b"".join((head, nonce, sealed))

    def open(self, key: str, raw: bytes) -> bytes:
        """The entry bytes stored under ``key``; :class:`EntryError` for anything that
        is not an entry sealed for ``key`` by one of this cache's keys.

        The hit path of every read: one dict lookup for magic and key id, plain byte
        slices (cheaper than memoryviews for the small nonce), one decrypt."""
        head = raw[:_HEAD]
        ciphers = self._by_head.get(head)
        if ciphers is None:
            return self._unknown(raw)
        if len(raw) < _MIN_SIZE:  # a nonce shorter than 8 bytes is a ValueError in decrypt
            raise _unauthentic(raw)
        associated = head + _utf8(key)
        for cipher in ciphers:
            try:
                opened: bytes = cipher.decrypt(raw[_HEAD:_BODY], raw[_BODY:], associated)
            except self._invalid_tag:
                continue
            return opened
        raise _unauthentic(raw)

    def opener(self, key: str, raw: bytes) -> tuple[bytes, Callable[[], bytes]]:
        """:meth:`open`'s result, and a call that opens ``raw`` again the same way —
        decrypted and its tag checked on every call, nothing decrypted kept — for a
        reader that opens the same stored bytes many times (the engine's fast local
        hits). What is the same on every open (the key, the associated data, the
        nonce, a view of the ciphertext) is worked out here, once. Raises as
        :meth:`open` does."""
        head = raw[:_HEAD]
        ciphers = self._by_head.get(head)
        if ciphers is None:
            plain = self._unknown(raw)  # a plaintext entry this cache may read
            return plain, lambda: plain
        if len(raw) < _MIN_SIZE:
            raise _unauthentic(raw)
        nonce, body, associated = raw[_HEAD:_BODY], memoryview(raw)[_BODY:], head + _utf8(key)
        for cipher in ciphers:
            again: Callable[[], bytes] = partial(cipher.decrypt, nonce, body, associated)
            try:
                return again(), again
            except self._invalid_tag:
                continue
        raise _unauthentic(raw)

    def _unknown(self, raw: bytes) -> bytes:
        """Bytes whose head names none of the keys: plaintext, or another key's entry."""
        if not raw.startswith(MAGIC):
            if self.allow_plaintext_reads:
                return raw
            raise EntryError(
                "a plaintext entry in an encrypted cache (written without encryption_key, "
                "or planted); allow_plaintext_reads=True serves such entries during a migration"
            )
        if len(raw) < _MIN_SIZE:
            raise EntryError(f"an encrypted entry of {len(raw)} bytes is truncated")
        raise EntryError(
            f"an entry encrypted with key id {raw[len(MAGIC) : _HEAD].hex()}, which is not one "
            f"of this cache's keys ({', '.join(self.key_ids)})"
        )

    # -- rotation ---------------------------------------------------------------------
    def sealed_with_current(self, raw: bytes) -> bool:
        """Whether ``raw`` names the current key (rotation skips those: resumable)."""
        return raw.startswith(self._head)

    def with_keys(self, extra: Iterable[bytes]) -> AesGcmProtector:
        """A protector with the same current key that also opens entries of ``extra``."""
        return AesGcmProtector(
            [*self._keys, *extra], allow_plaintext_reads=self.allow_plaintext_reads
        )
