"""``QdrantSemanticBackend.usage``: live entries under a prefix and their value bytes.

Qdrant cannot filter on a key prefix, so this scrolls the values collection page by
page (payload only, no vectors) and adds up the entries whose key starts with the
prefix and whose deadline has not passed; a value's size is its base64 payload's
decoded length (computed, not decoded). Index points are not counted: they hold no
value. Maintenance work for ``cachekit stats``, never on a request path.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import AsyncQdrantClient

__all__ = ["decoded_size", "scroll_usage"]

_PAGE = 512


def decoded_size(text: str) -> int:
    """The number of bytes the base64 ``text`` decodes to."""
    return len(text) * 3 // 4 - text[-2:].count("=") if text else 0


async def scroll_usage(
    client: AsyncQdrantClient, collection: str, prefix: str, now: float
) -> tuple[int, int]:
    """``(entries, bytes)`` of the live values under ``prefix`` in ``collection``."""
    entries = size = 0
    offset: Any = None
    while True:
        records, offset = await client.scroll(
            collection, limit=_PAGE, offset=offset, with_payload=["k", "e", "v"]
        )
        for record in records:
            payload = record.payload or {}
            key, deadline, value = payload.get("k"), payload.get("e"), payload.get("v")
            if (
                isinstance(key, str)
                and key.startswith(prefix)
                and isinstance(deadline, int | float)
                and deadline > now
                and isinstance(value, str)
            ):
                entries += 1
                size += decoded_size(value)
        if offset is None:
            return entries, size
