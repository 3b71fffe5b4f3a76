"""The entry file format: a fixed binary header, the key, then the value bytes.

::

    offset  size  field
    0       4     magic  b"CKD1" (format version 1)
    4       4     CRC-32 of every byte after this field (uint32 LE)
    8       4     flags  (uint32 LE; bit 0: the entry has an expiry)
    12      8     expires_at (float64 LE, wall-clock seconds; 0.0 without expiry)
    20      4     key length in bytes (uint32 LE)
    24      8     value length in bytes (uint64 LE)
    32      ...   key (UTF-8), then value

A file is valid only if the magic matches, its size is exactly the header plus the
two lengths and the CRC matches: a truncated, padded or bit-flipped file (a crash on
a filesystem without ``fsync``, a foreign file dropped into the tree) is rejected and
read as a miss. Writers never expose a partial file (see ``_store``), so the checks
guard against damage from outside, not against races.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "Header",
    "encode_entry_file",
    "DAMAGED",
    "parse_entry_file",
    "parse_header",
    "read_entry",
]

MAGIC = b"CKD1"
_HEADER = struct.Struct("<4sIIdIQ")
_BODY = struct.Struct("<IdIQ")  # the header after magic and CRC
HEADER_SIZE = _HEADER.size  # 32
_HAS_EXPIRY = 1
_crc32 = zlib.crc32
_unpack_header = _HEADER.unpack_from


class Header(NamedTuple):
    """The fixed header (enough for a sweep: expiry and the expected size)."""

    expires_at: float | None
    key_length: int
    value_length: int

    @property
    def file_size(self) -> int:
        return HEADER_SIZE + self.key_length + self.value_length


def encode_entry_file(key: bytes, value: bytes, expires_at: float | None) -> bytes:
    """The bytes of one entry file."""
    if expires_at is None:
        body = _BODY.pack(0, 0.0, len(key), len(value))
    else:
        body = _BODY.pack(_HAS_EXPIRY, expires_at, len(key), len(value))
    crc = _crc32(value, _crc32(key, _crc32(body)))
    return b"".join((MAGIC, crc.to_bytes(4, "little"), body, key, value))


def parse_header(data: bytes) -> Header | None:
    """Decode the fixed header at the start of ``data``; ``None`` if it is not one."""
    if len(data) < HEADER_SIZE:
        return None
    magic, _, flags, expires_at, key_length, value_length = _unpack_header(data)
    if magic != MAGIC or flags & ~_HAS_EXPIRY:
        return None
    return Header(expires_at if flags & _HAS_EXPIRY else None, key_length, value_length)


#: :func:`read_entry` results other than a value.
DAMAGED = "damaged"


def read_entry(data: bytes, key: bytes) -> tuple[bytes, float | None] | str:
    """Check a whole entry file written for ``key``: ``(value, expires_at)``, or
    :data:`DAMAGED` if it is truncated, padded, bit-flipped, foreign or another key's.
    The hot path of every hit, hence the single CRC pass and no intermediate copies."""
    if len(data) < HEADER_SIZE:
        return DAMAGED
    magic, crc, flags, expires_at, key_length, value_length = _unpack_header(data)
    start = HEADER_SIZE + key_length
    if (
        magic != MAGIC
        or flags & ~_HAS_EXPIRY
        or key_length != len(key)
        or len(data) != start + value_length
        or not data.startswith(key, HEADER_SIZE)
        or _crc32(memoryview(data)[8:]) != crc
    ):
        return DAMAGED
    return data[start:], (expires_at if flags & _HAS_EXPIRY else None)


def parse_entry_file(data: bytes) -> tuple[bytes, bytes, float | None] | None:
    """Decode any entry file: ``(key, value, expires_at)``, or ``None`` if damaged."""
    header = parse_header(data)
    if header is None:
        return None
    key = data[HEADER_SIZE : HEADER_SIZE + header.key_length]
    result = read_entry(data, key)
    if isinstance(result, str):
        return None
    return key, result[0], result[1]
