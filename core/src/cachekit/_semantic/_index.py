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

A match is a candidate, not yet a hit: every candidate goes through the
``cachekit_semantic_verify`` hook (:mod:`cachekit._semantic._verify`), which sees
both prompts' text. That is why a semantic cache stores each entry's prompt text in
the entry's metadata (``meta["prompt"]``: ``{"turns": [[role, text], …], "chat": bool}``,
the text parts only).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson

from cachekit._engine._engine import Engine
from cachekit._policy._controls import CacheControls
from cachekit._policy._envelope import Entry
from cachekit._semantic._backend import SemanticBackend
from cachekit._semantic._embedders import normalise
from cachekit._semantic._verify import SemanticPrompt
from cachekit.exceptions import PluginError

__all__ = [
    "DEFAULT_SIMILARITY_THRESHOLD",
    "PROMPT_META",
    "SEMANTIC_FAMILIES",
    "Candidate",
    "Probe",
    "SemanticIndex",
    "partition_of",
    "prompt_text",
    "prompt_turns",
]

#: Call families whose requests can be answered semantically.
SEMANTIC_FAMILIES = frozenset({"completion", "text_completion", "responses"})

#: Cosine similarity a semantic hit needs unless ``similarity_threshold`` says otherwise.
DEFAULT_SIMILARITY_THRESHOLD = 0.9

#: The entry metadata field holding the prompt text of an entry a semantic cache wrote.
PROMPT_META = "prompt"

_CONVERSATION = ("messages", "prompt", "input")
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


Turns = tuple[tuple[str, str], ...]


def prompt_turns(params: dict[str, Any]) -> tuple[Turns, bool] | None:
    """The fuzzy text of a request per message, ``((role, text), …)``, and whether it
    came from chat messages (``False``: a ``prompt``/``input`` given as text, whose
    turns have the role ``"prompt"``); ``None`` when the request has no text."""
    messages = _messages(params)
    if messages:
        turns = []
        for message in messages:
            text, _ = _split(message)
            if text:
                turns.append((str(message.get("role", "user")), text))
        return (tuple(turns), True) if turns else None
    prompt = params.get("prompt") if "prompt" in params else params.get("input")
    if isinstance(prompt, str):
        return (("prompt", prompt),), False
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return tuple(("prompt", p) for p in prompt), False
    return None


def _joined(turns: Turns, chat: bool) -> str:
    if chat:
        return "\n".join(f"{role}: {text}" for role, text in turns)
    return "\n".join(text for _, text in turns)


def prompt_text(params: dict[str, Any]) -> str | None:
    """The text a semantic lookup embeds, or ``None`` when the request has none: one
    ``<role>: <text>`` line per message with text, or the prompt itself."""
    found = prompt_turns(params)
    return None if found is None else _joined(*found)


def _stored_turns(meta: dict[str, Any] | None) -> tuple[Turns, bool] | None:
    """An entry's stored prompt turns (``None`` if absent or not in the stored shape)."""
    stored = (meta or {}).get(PROMPT_META)
    if not isinstance(stored, dict):
        return None
    turns, chat = stored.get("turns"), stored.get("chat")
    if not isinstance(turns, list) or not turns or not isinstance(chat, bool):
        return None
    pairs = []
    for turn in turns:
        if not (
            isinstance(turn, list)
            and len(turn) == 2
            and isinstance(turn[0], str)
            and isinstance(turn[1], str)
        ):
            return None
        pairs.append((turn[0], turn[1]))
    return tuple(pairs), chat


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


@dataclass(slots=True)
class Candidate:
    """The nearest live entry of a probe's partition: read, not yet verified."""

    key: str
    entry: Entry
    similarity: float


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
        self._verify = engine.plugins.hook.cachekit_semantic_verify

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

    async def search(self, probe: Probe, controls: CacheControls) -> Candidate | None:
        """The nearest live entry of the probe's partition, read by its exact key."""
        engine = self.engine
        match = await engine.io(
            "search", self.backend.search, probe.partition, probe.vector, self.threshold
        )
        if match is None:
            return None
        entry = engine.open(match.key, await engine.fetch(match.key), controls)
        if entry is None or type(entry) is not Entry:  # gone, expired, or not an entry
            return None
        return Candidate(match.key, entry, match.similarity)

    async def verify(
        self, family: str, key: str, params: dict[str, Any], candidate: Candidate
    ) -> bool:
        """Ask ``cachekit_semantic_verify`` whether ``candidate`` may answer the request
        under ``key``. No opinion accepts; a verifier that raises (or answers something
        other than a bool or ``None``) is reported as an error event and rejects."""
        if not self._verify.get_hookimpls():
            return True
        start = time.perf_counter()
        shared = MappingProxyType({k: v for k, v in params.items() if k not in _CONVERSATION})
        request = self._side(prompt_turns(params), shared, key)
        theirs = self._side(_stored_turns(candidate.entry.meta), shared, candidate.key)
        try:
            verdict = self._verify(
                call_type=family,
                request=request,
                candidate=theirs,
                similarity=candidate.similarity,
            )
            if verdict is not None and not isinstance(verdict, bool):
                raise TypeError(f"returned {verdict!r}, not True, False or None")
        except Exception as exc:
            error = PluginError(f"cachekit_semantic_verify failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            await self.engine.error(family, key, start, error, stage="plugin")
            return False
        return verdict is not False

    def _side(
        self, found: tuple[Turns, bool] | None, shared: Mapping[str, Any], key: str
    ) -> SemanticPrompt:
        if found is None:
            return SemanticPrompt(None, (), shared, key, self.embedder_id)
        return SemanticPrompt(_joined(*found), found[0], shared, key, self.embedder_id)

    def entry_meta(
        self, family: str, params: dict[str, Any], meta: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """``meta`` with the request's prompt text added, for an entry this semantic cache
        writes (what a verifier is shown when the entry is a candidate). Text that is not
        valid Unicode (a lone surrogate) is left out: the entry is stored all the same,
        and as a candidate it is unverifiable."""
        if family not in SEMANTIC_FAMILIES:
            return meta
        found = prompt_turns(params)
        if found is None:
            return meta
        turns, chat = found
        try:
            for role, text in turns:
                role.encode(), text.encode()
        except UnicodeEncodeError:
            return meta
        stored = {"turns": [[role, text] for role, text in turns], "chat": chat}
        return {**(meta or {}), PROMPT_META: stored}

    async def index(self, probe: Probe, key: str, ttl: float | None) -> None:
        await self.engine.io("index", self.backend.index, probe.partition, key, probe.vector, ttl)
