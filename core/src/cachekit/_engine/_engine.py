"""The engine: the one read path and the one write path every cache operation takes.

Read::

    key → L1 (if any) → backend op → open the entry → freshness rules → count + events
                        (connect, breaker,   (decode; corrupt:    (expiry,
                         timeout, mapping)    miss + error)        s-maxage)

Write::

    value → seal (envelope) → backend op → count + events

The key-value API and the LLM-call layer both go through these two paths; a feature
that changes what a read or a write does is a step added here, once. The engine
raises :class:`~cachekit.CacheKitError` subclasses (the key-value API passes them on;
the LLM-call layer turns them into misses and reports them: fail-open).

In-process (``inline``) backends skip the breaker, the timeout and the connect step:
their operations cannot hang and their failures are bugs, not outages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import pluggy

from cachekit._engine._breaker import CircuitBreaker
from cachekit._engine._events import observers_of
from cachekit._engine._failures import FailureLog
from cachekit._engine._io import CONNECT_TIMEOUT, Chokepoint
from cachekit._engine._reports import Reports
from cachekit._engine._runner import run_inline, run_on_loop_thread
from cachekit._engine._savings import Pricing
from cachekit._engine._stats import StatsRecorder
from cachekit._engine._steps import (
    Fallback,
    Materialize,
    Protector,
)
from cachekit._engine._steps import materialize as run_materialize
from cachekit._policy._controls import NO_CONTROLS, CacheControls
from cachekit._policy._envelope import STALE_META, Entry, decode_entry, encode_entry
from cachekit._policy._freshness import keep_for, stale_state
from cachekit._policy._keys import KEY_PREFIX
from cachekit._storage._backend import AsyncBackend
from cachekit._storage._local import LocalBackend
from cachekit.exceptions import (
    BackendError,
    EntryError,
)

if TYPE_CHECKING:
    from cachekit._engine._shared import SharedStats

__all__ = ["CONNECT_TIMEOUT", "Engine"]

T = TypeVar("T")


_perf = time.perf_counter
_loads = orjson.loads


class Engine(Reports):
    """The read and write paths of one cache over one backend (see the module docstring)."""

    def __init__(
        self,
        backend: AsyncBackend,
        *,
        name: str,
        namespace: str,
        clock: Callable[[], float],
        timeout: float | None,
        breaker: CircuitBreaker,
        plugins: pluggy.PluginManager,
        l1: LocalBackend | None = None,
        protector: Protector | None = None,
        pricing: Pricing | None = None,
    ) -> None:
        self.backend = backend
        self.protector = protector
        self.pricing = pricing
        self.name = name
        self.namespace = namespace
        self._prefix = f"{KEY_PREFIX}{namespace}:"
        self.inline = backend.inline
        self.clock = clock
        self.timeout = timeout
        self.breaker = breaker
        self.plugins = plugins
        self.l1 = l1
        self.stats = StatsRecorder()
        #: Shared counters (``Cache(shared_stats=True)``): ticked after each counted lookup.
        self.shared: SharedStats | None = None
        self.failures = FailureLog(f"{name} cache")
        # Hook callers are fixed once the specs are added; their implementations are
        # read on every use, so observers registered later are seen at once.
        self._observers = {
            kind: observers_of(getattr(plugins.hook, f"cachekit_on_{kind}"))
            for kind in ("hit", "miss", "store", "error")
        }
        self.hit_observers = self._observers["hit"]
        #: The in-process store that keeps hit notes for this engine's fast key-value
        #: hits (:mod:`._kv_hits`): the plain ``local`` backend only (a subclass may
        #: change what a read does), else None.
        self.note_store = backend if type(backend) is LocalBackend else None
        #: The chokepoint every backend operation goes through (see :mod:`._io`).
        self.chokepoint = Chokepoint(backend, name, timeout, breaker)
        self.io = self.chokepoint.run
        self.mapped = self.chokepoint.mapped

    async def fetch(self, key: str) -> bytes | None:
        """The raw bytes under ``key``: the L1 first (no breaker, no timeout), then the backend."""
        if self.inline:
            try:
                return await self.backend.get(key)
            except Exception as exc:
                raise self.mapped("get", exc) from exc
        l1 = self.l1
        if l1 is not None:
            raw = await l1.get(key)
            if raw is not None:
                return raw
        return await self.io("get", self.backend.get, key)

    # -- the read path ---------------------------------------------------------------
    def unseal(self, key: str, raw: bytes) -> bytes:
        """Stored bytes as entry bytes: the protection step of the read path (a wrong
        key, a tampered or moved entry raise :class:`EntryError`)."""
        protector = self.protector
        return raw if protector is None else protector.open(key, raw)

    def open(
        self, key: str, raw: bytes | None, controls: CacheControls
    ) -> Entry | EntryError | None:
        """Raw bytes as a usable entry: ``None`` for a miss (absent, expired beyond the
        stale windows, too old for ``s-maxage``), an :class:`EntryError` (not raised) for
        bytes that are no entry. A stale entry comes back marked (see :func:`stale_state`)."""
        if raw is None:
            return None
        try:
            entry = decode_entry(raw if self.protector is None else self.protector.open(key, raw))
        except EntryError as exc:
            return exc
        now = self.clock()
        expires_at = entry.expires_at
        if expires_at is not None and now >= expires_at and not stale_state(entry, now, controls):
            return None
        if controls.s_maxage is not None and controls.rejects(now - entry.created_at):
            return None
        return entry

    async def read(
        self,
        key: str,
        call_type: str,
        controls: CacheControls = NO_CONTROLS,
        fallback: Fallback | None = None,
        materialize: Materialize | None = None,
        model: str | None = None,
    ) -> Entry | None:
        """The entry under ``key`` (or ``fallback``'s), counted and reported as a hit or
        a miss. Backend failures raise. A corrupt entry — or one ``materialize`` cannot
        turn into the caller's value (kept as :attr:`Entry.result`) — is a miss plus an
        error event. A stale entry within ``stale-while-revalidate`` is a (stale) hit; one
        only within ``stale-if-error`` is counted as a miss and returned with
        :attr:`Entry.held` set, for the caller to serve if the provider fails."""
        # The hot path: no coroutine layer beyond the backend's own, nothing awaited
        # unless an observer listens or something failed.
        start = _perf()
        if self.inline:
            try:
                raw = await self.backend.get(key)
            except Exception as exc:
                raise self.mapped("get", exc) from exc
        else:
            raw = await self.fetch(key)
        opened = None if raw is None else self.open(key, raw, controls)
        entry = opened if type(opened) is Entry else None
        if opened is not None and entry is None:
            await self.error(call_type, key, start, opened)  # type: ignore[arg-type]
        similarity = None
        if entry is None and fallback is not None:
            entry, similarity = await fallback()
            if entry is not None:
                entry.similarity = similarity
        if entry is not None and materialize is not None:
            misfit = run_materialize(entry, materialize)
            if misfit is not None:
                await self.error(call_type, key, start, misfit)
                entry = None
        if entry is None or entry.held:  # a held entry is a miss kept for stale-if-error
            await self.miss(call_type, key, start, model)
            return entry
        saved = self.count_hit(call_type, key, entry, model)
        if self.hit_observers:
            await self.hit_event(call_type, key, start, entry, similarity, model, saved=saved)
        self.stats.get_latency.append(_perf() - start)
        return entry

    async def read_many(
        self,
        keys: Sequence[str],
        call_type: str,
        controls: CacheControls = NO_CONTROLS,
        materialize: Materialize | None = None,
        model: str | None = None,
    ) -> list[Entry | None]:
        """Entries for ``keys`` in order, in one batch; counted per key like :meth:`read`."""
        start = _perf()
        raws = await self.io("get_many", self.backend.get_many, keys)
        if len(raws) != len(keys):
            raise BackendError(f"{self.name} get_many returned {len(raws)} values for {len(keys)}")
        out: list[Entry | None] = []
        for key, raw in zip(keys, raws, strict=True):
            opened = self.open(key, raw, controls)
            entry = opened if type(opened) is Entry else None
            if opened is not None and entry is None:
                await self.error(call_type, key, start, opened)  # type: ignore[arg-type]
            if entry is not None and materialize is not None:
                misfit = run_materialize(entry, materialize)
                if misfit is not None:
                    await self.error(call_type, key, start, misfit)
                    entry = None
            if entry is None or entry.held:
                await self.miss(call_type, key, start, model)
            else:
                await self.hit(call_type, key, start, entry, None, model)
            out.append(entry)
        self.stats.latency("get_many", _perf() - start)
        return out

    # -- the write path ------------------------------------------------------------------
    def seal(
        self,
        key: str,
        value: Any,
        call_type: str,
        ttl: float | None,
        meta: dict[str, Any] | None = None,
        stale: float = 0.0,
    ) -> bytes:
        """``value`` as the bytes stored under ``key`` (raises ``ConfigurationError`` if it
        cannot be stored): the envelope, then the protection step. ``stale`` (seconds the
        entry may be served past ``ttl``) is recorded in its metadata."""
        if stale and ttl is not None:
            meta = {**(meta or {}), STALE_META: stale}
        raw = encode_entry(value, call_type=call_type, created_at=self.clock(), ttl=ttl, meta=meta)
        protector = self.protector
        return raw if protector is None else protector.seal(key, raw)

    async def write(
        self,
        key: str,
        value: Any,
        call_type: str,
        ttl: float | None,
        meta: dict[str, Any] | None = None,
        stale: float = 0.0,
    ) -> None:
        """Store ``value`` under ``key``, fresh for ``ttl`` seconds and kept by the
        backend ``stale`` seconds longer (the stale windows); counted and reported."""
        start = _perf()
        raw = self.seal(key, value, call_type, ttl, meta, stale)
        await self.io("set", self.backend.set, key, raw, keep_for(ttl, stale))
        await self.stored(call_type, key, start, ttl, meta)
        self.stats.latency("set", _perf() - start)

    async def write_many(
        self,
        items: Sequence[tuple[str, Any, dict[str, Any] | None]],
        call_type: str,
        ttl: float | None,
        stale: float = 0.0,
    ) -> None:
        """Store ``(key, value, meta)`` items with one lifetime, in one batch."""
        start = _perf()
        mapping = {
            key: self.seal(key, value, call_type, ttl, meta, stale) for key, value, meta in items
        }
        if not mapping:
            return
        await self.io("set_many", self.backend.set_many, mapping, keep_for(ttl, stale))
        for key, _, meta in items:
            await self.stored(call_type, key, start, ttl, meta)
        self.stats.latency("set_many", _perf() - start)

    async def delete(self, key: str) -> bool:
        return await self.io("delete", self.backend.delete, key)

    async def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            await self.io("delete", self.backend.delete, key)

    async def clear(self, prefix: str) -> int:
        return await self.io("clear", self.backend.clear, prefix)

    async def close(self) -> None:
        """Release the backend. Never skipped by an open circuit or cut short by the
        operation timeout: connections must be released. Shared counters are written
        one last time first (fail-open)."""
        if self.shared is not None:
            await self.shared.close()
        try:
            await self.backend.aclose()
        except Exception as exc:
            raise self.mapped("close", exc) from exc

    # -- counting and events ---------------------------------------------------------------
    # -- the sync face -------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion from synchronous code (inline or on the loop thread)."""
        if self.inline:
            return run_inline(coro)
        return run_on_loop_thread(coro)
