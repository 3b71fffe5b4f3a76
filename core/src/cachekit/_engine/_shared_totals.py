"""Reading shared counters: the snapshots every writer left in a backend, added up.

The other half of :mod:`._shared`. Used by ``cachekit stats``; never on a request path.
A snapshot that is not one (foreign bytes, a newer format) is skipped and counted in
:attr:`SharedTotals.unreadable`, never guessed at.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cachekit._engine._shared import stats_prefix
from cachekit._engine._stats import Tally
from cachekit._storage._backend import AsyncBackend

__all__ = ["SharedTotals", "read_shared_totals"]

_BATCH = 100
_COUNTS = ("hits", "misses", "stores", "errors")
#: Counters added after the first snapshots were written: ``0`` when a snapshot lacks them.
_LATER_COUNTS = ("stale_hits", "refreshes", "refresh_failures", "stale_on_error")
_TABLES = ("by_namespace", "by_model", "by_call_type")

#: Runs one backend operation the way the engine does (``Engine.io``).
Io = Callable[..., Awaitable[Any]]


@dataclass
class SharedTotals:
    """Counters of every cache that wrote snapshots under a prefix, added up."""

    writers: int = 0
    processes: int = 0
    since: float | None = None
    updated: float | None = None
    unreadable: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(_COUNTS + _LATER_COUNTS, 0)
    )
    saved: Tally = field(default_factory=Tally)
    tables: dict[str, dict[str, Tally]] = field(
        default_factory=lambda: {name: {} for name in _TABLES}
    )
    _process_ids: set[str] = field(default_factory=set, repr=False)

    def add(self, doc: Mapping[str, Any]) -> None:
        """Add one snapshot (already checked by :func:`_snapshot`)."""
        self.writers += 1
        self._process_ids.add(str(doc.get("process")))
        self.processes = len(self._process_ids)
        started, updated = doc["started_at"], doc["updated_at"]
        self.since = started if self.since is None else min(self.since, started)
        self.updated = updated if self.updated is None else max(self.updated, updated)
        for name in _COUNTS:
            self.counts[name] += doc[name]
        for name in _LATER_COUNTS:
            value = doc.get(name, 0)
            self.counts[name] += value if _count(value) else 0
        _add_tally(self.saved, doc["saved"])
        for name in _TABLES:
            table = self.tables[name]
            for label, tally in doc[name].items():
                _add_tally(table.setdefault(label, Tally()), tally)

    def as_dict(self) -> dict[str, Any]:
        hits, misses = self.counts["hits"], self.counts["misses"]
        saved = self.saved
        return {
            "writers": self.writers,
            "processes": self.processes,
            "since": self.since,
            "updated": self.updated,
            "unreadable": self.unreadable,
            **self.counts,
            "hit_ratio": hits / (hits + misses) if hits + misses else 0.0,
            "tokens_saved": saved.tokens_saved,
            "latency_saved_s": saved.latency_saved_s,
            "cost_saved": saved.cost_saved if saved.priced else None,
            **{
                name: {label: t.as_dict() for label, t in sorted(table.items())}
                for name, table in self.tables.items()
            },
        }


def _add_tally(into: Tally, doc: Mapping[str, Any]) -> None:
    into.hits += doc["hits"]
    into.misses += doc["misses"]
    into.tokens_saved += doc["tokens_saved"]
    into.latency_saved_s += doc["latency_saved_s"]
    into.cost_saved += doc["cost_saved"]
    into.priced += doc["priced"]


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _amount(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _tally_ok(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and all(_count(doc.get(k)) for k in ("hits", "misses", "tokens_saved", "priced"))
        and all(_amount(doc.get(k)) for k in ("latency_saved_s", "cost_saved"))
    )


def _snapshot(raw: bytes | None) -> dict[str, Any] | None:
    """The snapshot in ``raw`` if it is a well-formed version-1 one, else ``None``."""
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("v") != 1:
        return None
    if not all(_count(doc.get(k)) for k in _COUNTS):
        return None
    if not all(_amount(doc.get(k)) for k in ("started_at", "updated_at")):
        return None
    if not _tally_ok(doc.get("saved")):
        return None
    for name in _TABLES:
        table = doc.get(name)
        if not isinstance(table, dict) or not all(_tally_ok(t) for t in table.values()):
            return None
    return doc


async def _keys(backend: AsyncBackend, prefix: str) -> list[str]:
    return list(dict.fromkeys([key async for key in backend.scan(prefix)]))  # SCAN repeats


async def read_shared_totals(
    backend: AsyncBackend, io: Io, namespace: str | None = None
) -> SharedTotals:
    """Add up the snapshots of caches of ``namespace`` (``None``: every cache) in
    ``backend``; ``io`` runs each backend operation (the engine's chokepoint)."""
    keys: list[str] = await io("scan", _keys, backend, stats_prefix(namespace))
    totals = SharedTotals()
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        for raw in await io("get_many", backend.get_many, batch):
            doc = _snapshot(raw)
            if doc is None:
                totals.unreadable += raw is not None  # gone meanwhile is not unreadable
            else:
                totals.add(doc)
    return totals
