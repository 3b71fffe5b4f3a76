"""Semantic caching: the backend interface and the policy the core applies.

A semantic lookup happens only after the exact key missed. The core embeds the
request's prompt text once, asks the backend for the most similar indexed entry
**within the request's partition** and, if its cosine similarity reaches the
threshold, reads that entry by its exact key. The same vector is reused to index
the fresh result on a miss (one embedding per miss).

Partition: a digest of every key parameter except the conversation *text*, plus
the exact system/developer messages. So a semantic hit never crosses models,
temperatures, tools, namespaces or system prompts; only the wording of the
user/assistant turns may differ.

Prompt text: every message with its role, one per line, ``<role>: <content>``
(multi-part content contributes its text parts); ``prompt`` for text completions.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cachekit._storage._backend import AsyncBackend

__all__ = ["SemanticBackend", "SemanticMatch"]


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    """The nearest indexed entry: its exact storage key and cosine similarity."""

    key: str
    similarity: float


class SemanticBackend(AsyncBackend):
    """A backend that also keeps a vector index of its entries.

    On top of the byte-level primitives it implements :meth:`search` and
    :meth:`index`. Vectors arrive L2-normalised, so cosine similarity is the dot
    product. Index entries expire with their ``ttl`` like values do, indexing a key
    twice replaces its vector (no duplicates), and ``clear(prefix)`` also drops the
    index entries of the keys it removes (or the lookup of a cleared key simply
    misses, which the core treats as a miss).
    """

    semantic: ClassVar[bool] = True

    @abc.abstractmethod
    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        """The most similar live entry of ``partition`` with similarity ≥ ``threshold``."""

    @abc.abstractmethod
    async def index(
        self, partition: str, key: str, vector: Sequence[float], ttl: float | None
    ) -> None:
        """Index ``key``'s ``vector`` in ``partition`` for ``ttl`` seconds (``None``: forever)."""
