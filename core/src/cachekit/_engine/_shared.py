"""Shared counters: ``Cache(shared_stats=True)`` keeps its counters in the backend too.

Storage: each cache (a *writer*) writes its own **cumulative snapshot** of its counters
as one small JSON value under ``cachekit:stats:v1:<namespace>:<writer-id>``, with a
30-day lifetime renewed at each write; readers (``cachekit stats``) list the snapshots
with :meth:`AsyncBackend.scan` and add them up (:mod:`._shared_totals`). No increments,
so it works on any backend that is shared between processes (``AsyncBackend.shared``)
and can list its keys, and it adds up exactly across processes: every writer owns its
key, and each snapshot replaces the previous one of the same writer. Snapshots live
outside the ``cachekit:v2:`` entry keys, so ``clear``, ``rekey`` and ``usage`` never
see them; they hold counts, namespaces and model names only, in plaintext.

Batching, off the hit path: a hit or a miss only compares the clock with the next due
time (:meth:`SharedStats.tick`); at most once per ``interval`` (1 s) it hands a flush
to the background loop thread (:func:`submit_to_loop_thread`) without waiting for it.
So a process writes at most one snapshot a second per cache, plus a final one on
``aclose()``/``close()``; nothing is written while nothing changed. Counts of the last
second are lost if the process ends without closing the cache. Writes go through the
engine's chokepoint (timeout, circuit breaker) and are fail-open: a failure is counted
in ``stats().errors`` and warned about once, like any other backend failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from cachekit._engine._runner import submit_to_loop_thread
from cachekit._engine._stats import Tally
from cachekit.exceptions import BackendTimeoutError, CacheKitError

if TYPE_CHECKING:
    from cachekit._engine._engine import Engine

__all__ = [
    "FLUSH_INTERVAL",
    "SNAPSHOT_TTL",
    "STATS_PREFIX",
    "SharedStats",
    "stats_prefix",
    "tally_doc",
]

#: Every snapshot key starts with this (entry keys start with ``cachekit:v2:``).
STATS_PREFIX = "cachekit:stats:v1:"
#: Lifetime of a snapshot, renewed by each write: a writer gone for 30 days drops out.
SNAPSHOT_TTL = 30 * 86400.0
#: At most one snapshot write per this many seconds per cache.
FLUSH_INTERVAL = 1.0
#: The longest ``aclose()`` waits for the final snapshot, beyond the operation timeout.
_CLOSE_GRACE = 5.0

_PROCESS_TOKEN = uuid.uuid4().hex[:8]

logger = logging.getLogger("cachekit")


def stats_prefix(namespace: str | None = None) -> str:
    """The prefix of the snapshots of caches of ``namespace`` (``None``: of every cache)."""
    return STATS_PREFIX if namespace is None else f"{STATS_PREFIX}{namespace}:"


def tally_doc(tally: Tally) -> dict[str, Any]:
    """A :class:`Tally` as stored in a snapshot (raw sums: readers add them up)."""
    return {
        "hits": tally.hits,
        "misses": tally.misses,
        "tokens_saved": tally.tokens_saved,
        "latency_saved_s": tally.latency_saved_s,
        "cost_saved": tally.cost_saved,
        "priced": tally.priced,
    }


class SharedStats:
    """Writes one cache's cumulative counters to its backend (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], float],
        interval: float = FLUSH_INTERVAL,
        ttl: float = SNAPSHOT_TTL,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.interval = interval
        self.ttl = ttl
        self.process = f"{os.getpid()}-{_PROCESS_TOKEN}"
        self.writer = f"{self.process}-{uuid.uuid4().hex[:8]}"
        self.key = f"{stats_prefix(engine.namespace)}{self.writer}"
        self.started_at = clock()
        self._last = self.started_at
        self._due = self.started_at + interval
        self._pending: concurrent.futures.Future[None] | None = None
        self._lock: asyncio.Lock | None = None  # made on the loop thread, where flushes run
        self._written: tuple[int, int, int, int] | None = None
        #: Snapshots written so far (each is one backend write).
        self.flushes = 0
        self.closed = False
        self._warned = False

    def tick(self) -> None:
        """Called after each counted lookup: start a background flush when one is due."""
        now = self._clock()
        if self._last <= now < self._due or self.closed:  # a clock set back also flushes
            return
        self._last, self._due = now, now + self.interval
        pending = self._pending
        if pending is None or pending.done():
            self._pending = submit_to_loop_thread(self._flush())

    def _activity(self) -> tuple[int, int, int, int]:
        stats = self._engine.stats
        return stats.hits, stats.misses, stats.stores, stats.errors

    def snapshot(self) -> dict[str, Any]:
        """The document written under :attr:`key`: this cache's counters so far."""
        stats = self._engine.stats
        return {
            "v": 1,
            "process": self.process,
            "writer": self.writer,
            "namespace": self._engine.namespace,
            "backend": self._engine.name,
            "started_at": self.started_at,
            "updated_at": self._clock(),
            "flushes": self.flushes + 1,
            "hits": stats.hits,
            "misses": stats.misses,
            "stores": stats.stores,
            "errors": stats.errors,
            "stale_hits": stats.stale_hits,
            "refreshes": stats.refreshes,
            "refresh_failures": stats.refresh_failures,
            "stale_on_error": stats.stale_on_error,
            "saved": tally_doc(stats.saved),
            "by_namespace": {k: tally_doc(t) for k, t in list(stats.by_namespace.items())},
            "by_model": {k: tally_doc(t) for k, t in list(stats.by_model.items())},
            "by_call_type": {k: tally_doc(t) for k, t in list(stats.by_call_type.items())},
        }

    async def _flush(self) -> None:
        """Write the snapshot if anything changed (runs on the loop thread, one at a time,
        so a later snapshot is never overwritten by an earlier one)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            activity = self._activity()
            if activity == self._written:
                return
            engine = self._engine
            raw = orjson.dumps(self.snapshot())
            try:
                await engine.io("set", engine.backend.set, self.key, raw, self.ttl)
            except CacheKitError as exc:
                self._failed(exc)
                return
            self.flushes += 1
            self._written = activity

    def _failed(self, exc: BaseException) -> None:
        """Count a failed write; the first one per cache also logs one WARNING."""
        self._engine.stats.errors += 1
        if self._warned:
            logger.debug("cachekit shared counters: write failed: %s: %s", type(exc).__name__, exc)
            return
        self._warned = True
        logger.warning(
            "cachekit %s cache: its shared counters could not be written to the backend "
            "(cache.stats() still counts this process; `cachekit stats` lacks its counts "
            "until a write succeeds; cached calls are not affected). Fix: check that the "
            "backend accepts writes under %s keys. Error: %s: %s (further failures are "
            "counted in stats().errors, not logged)",
            self._engine.name,
            STATS_PREFIX,
            type(exc).__name__,
            exc,
        )

    async def idle(self) -> None:
        """Wait until no background flush is running (tests; ``close``)."""
        pending = self._pending
        if pending is not None and not pending.done():
            await self._wait(pending)

    async def close(self) -> None:
        """Write the final snapshot (bounded; fail-open) and stop flushing."""
        if self.closed:
            return
        self.closed = True
        await self._wait(submit_to_loop_thread(self._flush()))

    async def _wait(self, future: concurrent.futures.Future[None]) -> None:
        limit = (self._engine.timeout or 0.0) + _CLOSE_GRACE
        try:
            if self._engine.inline:  # no event loop of ours to yield to: block briefly
                future.result(limit)
            else:
                await anyio.to_thread.run_sync(future.result, limit, abandon_on_cancel=True)
        except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError
            self._failed(BackendTimeoutError(f"shared stats flush took longer than {limit} s"))
        except Exception as exc:  # the flush absorbs backend errors; anything else is a bug
            self._failed(exc)
