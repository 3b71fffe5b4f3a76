"""The semantic step of the read and write paths (semantic backends only).

After the exact key missed, the request's prompt text is embedded once, the
backend is searched **within the request's partition**, and the match is read by
its exact key through the engine. The same vector indexes the fresh result on a
miss (one embedding per miss).

What is fuzzy and what is exact:

* **prompt text** (embedded, compared by similarity): the *text* of the user and
  assistant turns, one line per message, ``<role>: <text>``; ``prompt``/``input``
  text for completions and the Responses API;
* **partition** (must be identical): every other parameter (model, temperature,
  tools, …), the namespace, the embedder, the exact system/developer messages, tool
  results, and every non-text part of a message — images, audio, files, assistant
  ``tool_calls`` with their arguments. So the same words with another image, or
  the same tool call with other arguments, never match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cachekit._engine._engine import Engine
from cachekit._policy._controls import CacheControls
from cachekit._policy._envelope import Entry
from cachekit._semantic._backend import SemanticBackend
from cachekit._semantic._embedders import normalise
from cachekit.exceptions import PluginError

__all__ = [
    "DEFAULT_SIMILARITY_THRESHOLD",
    "SEMANTIC_FAMILIES",
    "Probe",
    "SemanticIndex",
    "partition_of",
    "prompt_text",
]

#: Call families whose requests can be answered semantically.
SEMANTIC_FAMILIES = frozenset({"completion", "text_completion", "responses"})

#: Cosine similarity a semantic hit needs unless ``similarity_threshold`` says otherwise.
DEFAULT_SIMILARITY_THRESHOLD = 0.9

_EXACT_ROLES = frozenset({"system", "developer", "tool", "function"})
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})

Embedder = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]


def _messages(params: dict[str, Any]) -> list[dict[str, Any]]:
    messages = params.get("messages")
    if not isinstance(messages, list):
        messages = params.get("input")  # the Responses API's list of input items
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def _split(message: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """A message's fuzzy text, and what of it must match exactly (``None``: nothing)."""
    role = message.get("role", "user")
    if role in _EXACT_ROLES:
        return "", message
    content = message.get("content")
    texts: list[str] = []
    others: list[Any] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif (
                isinstance(part, dict)
                and part.get("type", "text") in _TEXT_PARTS
                and isinstance(part.get("text"), str)
            ):
                texts.append(part["text"])
            else:
                others.append(part)
    elif content is not None:
        others.append(content)
    rest = {k: v for k, v in message.items() if k not in ("role", "content")}
    exact = {"role": role, "parts": others, **rest} if (others or rest) else None
    return " ".join(texts), exact


def prompt_text(params: dict[str, Any]) -> str | None:
    """The text a semantic lookup embeds, or ``None`` when the request has none."""
    messages = _messages(params)
    if messages:
        lines = []
        for message in messages:
            text, _ = _split(message)
            if text:
                lines.append(f"{message.get('role', 'user')}: {text}")
        return "\n".join(lines) if lines else None
    prompt = params.get("prompt") if "prompt" in params else params.get("input")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt)
    return None


def partition_of(namespace: str, family: str, params: dict[str, Any], embedder: str = "") -> str:
    """The digest naming the set of entries a request may semantically match (see the
    module docstring for what it covers)."""
    rest = {k: v for k, v in params.items() if k not in ("messages", "prompt", "input")}
    exact = [e for e in (_split(m)[1] for m in _messages(params)) if e is not None]
    parts = [namespace, family, embedder, rest, exact]
    try:
        doc = orjson.dumps(
            parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
        )
    except TypeError:  # e.g. an integer beyond 64 bits
        doc = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(doc).hexdigest()[:32]


@dataclass(slots=True)
class Probe:
    """A request's partition and unit-length prompt vector, computed once per miss."""

    partition: str
    vector: list[float]


class SemanticIndex:
    """The semantic step beside the engine (see the module docstring)."""

    def __init__(
        self,
        backend: SemanticBackend,
        engine: Engine,
        *,
        threshold: float,
        embedder: Embedder,
        embedder_id: str,
    ) -> None:
        self.backend = backend
        self.engine = engine
        self.threshold = threshold
        self.embedder = embedder
        self.embedder_id = embedder_id

    async def probe(self, namespace: str, family: str, params: dict[str, Any]) -> Probe | None:
        """Embed the request's prompt text; ``None`` when it cannot be answered
        semantically. An embedder failure raises :class:`PluginError`."""
        if family not in SEMANTIC_FAMILIES:
            return None
        text = prompt_text(params)
        if text is None:
            return None
        try:
            vectors = await self.embedder([text])
            vector = normalise(vectors[0])
        except Exception as exc:
            raise PluginError(f"embedder failed: {type(exc).__name__}: {exc}") from exc
        return Probe(partition_of(namespace, family, params, self.embedder_id), vector)

    async def search(
        self, probe: Probe, controls: CacheControls
    ) -> tuple[Entry | None, float | None]:
        """The nearest live entry of the probe's partition, read by its exact key."""
        engine = self.engine
        match = await engine.io(
            "search", self.backend.search, probe.partition, probe.vector, self.threshold
        )
        if match is None:
            return None, None
        entry = engine.open(match.key, await engine.fetch(match.key), controls)
        if entry is None or type(entry) is not Entry:  # gone, expired, or not an entry
            return None, None
        return entry, match.similarity

    async def index(self, probe: Probe, key: str, ttl: float | None) -> None:
        await self.engine.io("index", self.backend.index, probe.partition, key, probe.vector, ttl)
