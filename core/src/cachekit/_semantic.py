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
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cachekit._backend import AsyncBackend

__all__ = [
    "SEMANTIC_FAMILIES",
    "SemanticBackend",
    "SemanticMatch",
    "partition_of",
    "prompt_text",
]

#: Call families whose requests can be answered semantically.
SEMANTIC_FAMILIES = frozenset({"completion", "text_completion", "responses"})

_PINNED_ROLES = frozenset({"system", "developer"})


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


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return "" if content is None else json.dumps(content, sort_keys=True, default=str)


def _messages(params: dict[str, Any]) -> list[dict[str, Any]]:
    messages = params.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def prompt_text(params: dict[str, Any]) -> str | None:
    """The text a semantic lookup embeds, or ``None`` when the request has none."""
    messages = _messages(params)
    if messages:
        return "\n".join(
            f"{m.get('role', 'user')}: {_content_text(m.get('content'))}" for m in messages
        )
    prompt = params.get("prompt") if "prompt" in params else params.get("input")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt)
    return None


def partition_of(namespace: str, family: str, params: dict[str, Any], embedder: str = "") -> str:
    """The digest naming the set of entries a request may semantically match.

    ``embedder`` identifies the embedding function: vectors of two embedders are
    never compared, even when their dimensions agree."""
    rest = {k: v for k, v in params.items() if k not in ("messages", "prompt", "input")}
    pinned = [m for m in _messages(params) if m.get("role") in _PINNED_ROLES]
    doc = json.dumps(
        [namespace, family, embedder, rest, pinned],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(doc.encode()).hexdigest()[:32]
