"""The fast key-value hit: a fresh hit on an in-process store, answered at once.

``Cache.aget`` and ``Cache.get`` (untyped) try :func:`kv_hit_now` before the engine's
read path. It either serves the hit, counted exactly as :meth:`Engine.read` counts
one, or returns :data:`NOT_NOW` and the caller takes the read path, which then does
all it always did: a miss, an entry past its freshness (stale windows included), a
corrupt entry, an entry whose hit saved tokens or money, a hit someone observes.
What it skips: the coroutines, the decoding of the entry's header, the ``Entry``.

It answers only when the engine's backend is the plain ``local`` backend
(:attr:`Engine.note_store`; its reads cannot fail or wait, so there is no breaker,
timeout or error mapping to apply) and no ``cachekit_on_hit`` observer is registered
(checked on every call: an observer registered later sees the next hit).

The first such hit on a stored value decodes its entry (protection step, envelope)
and keeps a :class:`HitNote` beside the value in the store
(:meth:`LocalBackend.annotate`): its expiry, where the value starts, and the stats
slices it counts in. The store drops the note with the value (set, delete, eviction,
expiry, clear). Every hit still parses the value, so it returns a fresh object.

Encryption at rest: the note keeps no plaintext; every hit opens the stored bytes
again (AES-GCM, tag checked, bound to the storage key) and parses the value from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import orjson

from cachekit._engine._savings import Saved
from cachekit._engine._stats import Tally
from cachekit._policy._envelope import decode_entry
from cachekit.exceptions import EntryError

if TYPE_CHECKING:
    from cachekit._engine._engine import Engine
    from cachekit._storage._local import LocalBackend

__all__ = ["NOT_NOW", "HitNote", "kv_hit_now"]

#: What :func:`kv_hit_now` returns when the read path must answer.
NOT_NOW: Any = object()

_perf = time.perf_counter
_EMPTY = memoryview(b"")
_loads = orjson.loads


class HitNote:
    """What one engine decoded from one stored value, kept beside it by the store."""

    __slots__ = ("expires_at", "owner", "payload", "reopen", "start", "stored", "tallies")

    def __init__(
        self,
        owner: Engine,
        stored: bytes,
        expires_at: float | None,
        start: int,
        reopen: Callable[[], bytes] | None,
        tallies: tuple[Tally, ...] | None,
    ) -> None:
        #: The engine that decoded it (another engine's protector may not open it).
        self.owner = owner
        #: The stored bytes it was made from.
        self.stored = stored
        #: The end of the entry's freshness (:attr:`Entry.expires_at`).
        self.expires_at = expires_at
        #: Where the value's JSON starts in the entry bytes.
        self.start = start
        #: The protection step, opening :attr:`stored` again (``Protector.opener``);
        #: ``None`` when the stored bytes are the entry bytes.
        self.reopen = reopen
        #: The value's JSON when there is no protection step (a view, not a copy);
        #: empty when there is one.
        self.payload = memoryview(stored)[start:] if reopen is None else _EMPTY
        #: The stats slices a key-value hit on it counts in; ``None`` when its hit has
        #: savings to count (the read path does that).
        self.tallies = tallies


def _take_note(engine: Engine, store: LocalBackend, key: str, stored: bytes) -> HitNote | None:
    """Decode ``stored`` (``None``: it is no entry, the read path reports it) and keep
    the note beside it."""
    protector = engine.protector
    reopen = None
    try:
        if protector is None:
            raw = stored
        else:
            raw, reopen = protector.opener(key, stored)
        entry = decode_entry(raw)
    except EntryError:
        return None
    saves = entry.meta is not None and Saved.of(entry.meta, engine.pricing) is not None
    tallies = None if saves else engine.stats.plain_tallies("kv", engine.namespace_of(key))
    start = len(raw) - len(entry.payload)
    note = HitNote(engine, stored, entry.expires_at, start, reopen, tallies)
    store.annotate(key, stored, note)
    return note


def kv_hit_now(engine: Engine, key: str) -> Any:
    """The value of a fresh key-value hit on ``key``, counted (see the module
    docstring), or :data:`NOT_NOW`: take the read path."""
    store = engine.note_store
    if store is None or engine.hit_observers:
        return NOT_NOW
    start = _perf()
    try:
        found = store.peek(key)
    except Exception as exc:  # a bug, or an injected clock that raised: as the read path
        raise engine.mapped("get", exc) from exc
    if found is None:
        return NOT_NOW
    if type(found) is HitNote and found.owner is engine:
        note = found
    else:  # the value's first fast hit, or another engine's note on it
        stored = found.stored if type(found) is HitNote else cast("bytes", found)
        taken = _take_note(engine, store, key, stored)
        if taken is None:
            return NOT_NOW
        note = taken
    tallies = note.tallies
    if tallies is None:
        return NOT_NOW
    expires_at = note.expires_at
    if expires_at is not None and engine.clock() >= expires_at:
        return NOT_NOW  # past its freshness: expired, or stale (the read path's rules)
    reopen = note.reopen
    try:  # encrypted: the stored bytes are opened again, tag checked
        value = _loads(note.payload if reopen is None else reopen()[note.start :])
    except Exception:  # a value orjson cannot read: the read path's fallback decoder
        return NOT_NOW
    stats = engine.stats
    stats.hits += 1
    for tally in tallies:
        tally.hits += 1
    if engine.shared is not None:
        engine.shared.tick()
    stats.get_latency.append(_perf() - start)
    return value
