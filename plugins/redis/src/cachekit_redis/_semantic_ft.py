"""The ``redis-semantic`` path for servers with a vector index (``FT.CREATE … VECTOR``).

Redis Stack, Redis 8 and Valkey with valkey-search answer ``FT.SEARCH`` KNN queries
themselves. Each entry is then one hash document
``<prefix>doc:<dim>:<entry key>`` with fields ``p`` (the partition, a TAG) and ``v``
(the float32 vector), expiring with the entry (``PEXPIRE``: the server drops it
from the index). One index per dimension, ``<prefix>idx:<dim>``, HNSW with cosine
distance, created on first use. A lookup is one ``FT.SEARCH`` round trip::

    FT.SEARCH <idx> "@p:{<partition>}=>[KNN 1 @v $q AS dist]"
        PARAMS 2 q <blob> RETURN 1 dist SORTBY dist ASC LIMIT 0 1 DIALECT 2

The functions here only build commands and read replies, so they are unit-tested
without a server; the machine this was written on runs Redis 7.0 without the search
module, so this path has not run against a real ``FT.SEARCH``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "create_index_args",
    "doc_key",
    "doc_prefix",
    "index_name",
    "is_missing_index",
    "parse_search_reply",
    "search_args",
]


def index_name(prefix: str, dim: int) -> str:
    return f"{prefix}idx:{dim}"


def doc_prefix(prefix: str, dim: int) -> str:
    return f"{prefix}doc:{dim}:"


def doc_key(prefix: str, dim: int, key: str) -> str:
    return doc_prefix(prefix, dim) + key


def create_index_args(prefix: str, dim: int, algorithm: str = "HNSW") -> list[Any]:
    """``FT.CREATE`` arguments for the index of ``dim``-dimensional vectors."""
    return [
        "FT.CREATE", index_name(prefix, dim),
        "ON", "HASH",
        "PREFIX", 1, doc_prefix(prefix, dim),
        "SCHEMA",
        "p", "TAG",
        "v", "VECTOR", algorithm, 6, "TYPE", "FLOAT32", "DIM", dim, "DISTANCE_METRIC", "COSINE",
    ]  # fmt: skip


def search_args(prefix: str, dim: int, partition: str, blob: bytes) -> list[Any]:
    """``FT.SEARCH`` arguments for the nearest entry of ``partition`` (a TAG-safe id)."""
    query = f"@p:{{{partition}}}=>[KNN 1 @v $q AS dist]"
    return [
        "FT.SEARCH", index_name(prefix, dim), query,
        "PARAMS", 2, "q", blob,
        "RETURN", 1, "dist",
        "SORTBY", "dist", "ASC",
        "LIMIT", 0, 1,
        "DIALECT", 2,
    ]  # fmt: skip


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_search_reply(reply: Any, prefix: str, dim: int) -> tuple[str, float] | None:
    """``[total, doc_id, [b"dist", b"0.12"], …]`` (RESP2) → ``(entry key, cosine similarity)``.

    Also reads the RESP3 map form (``{"results": [{"id": …, "extra_attributes": …}]}``).
    Returns ``None`` when there is no result or the document is not one of ours.
    """
    doc_id: str | None = None
    fields: dict[str, Any] = {}
    if isinstance(reply, dict):
        results = reply.get(b"results", reply.get("results")) or []
        if not results:
            return None
        first = results[0]
        doc_id = _text(first.get(b"id", first.get("id")))
        attrs = first.get(b"extra_attributes", first.get("extra_attributes")) or {}
        fields = {_text(k): v for k, v in attrs.items()}
    elif isinstance(reply, Sequence) and len(reply) >= 2 and int(reply[0]) > 0:
        doc_id = _text(reply[1])
        if len(reply) >= 3 and isinstance(reply[2], Sequence):
            flat = list(reply[2])
            fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}
    if doc_id is None or "dist" not in fields:
        return None
    start = doc_prefix(prefix, dim)
    if not doc_id.startswith(start):
        return None
    distance = float(_text(fields["dist"]))
    return doc_id[len(start) :], 1.0 - distance


def is_missing_index(exc: BaseException) -> bool:
    """Whether an ``FT.SEARCH``/``FT.INFO`` error says the index does not exist."""
    text = str(exc).lower()
    return "no such index" in text or "unknown index" in text or "not found" in text
