"""``cachekit stats``: what a store can tell about every process that used it.

* **Reachability:** one raw read of a key that is never written, timed. It goes
  around the counting read path, so the CLI's own probe never shows up as traffic.
* **Counters:** the shared counters every ``Cache(shared_stats=True)`` left in the
  store (:mod:`cachekit._engine._shared`), added up per namespace, model and call type,
  with what they cover (how many processes, since when); or a plain statement that
  this backend keeps none.
* **Usage:** entries and bytes stored per namespace (``AsyncBackend.usage``), or why
  it is not reported.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from cachekit._cache import Cache
from cachekit._cli._output import format_bytes, format_seconds, table
from cachekit._engine._shared_totals import SharedTotals, read_shared_totals
from cachekit._policy._keys import namespace_prefix, storage_key
from cachekit._storage._backend import AsyncBackend, Usage

__all__ = ["StatsReport", "gather_stats", "render_stats"]

_PROBE_KEY = "cachekit-cli-probe"
_TALLY_COLUMNS = ["hits", "misses", "hit ratio", "tokens saved", "cost saved", "latency saved"]


@dataclass
class StatsReport:
    """Everything ``cachekit stats`` found (see the module docstring)."""

    probe_s: float
    totals: SharedTotals | None
    counters_note: str
    usage: dict[str, Usage | None] = field(default_factory=dict)
    usage_note: str = ""


def _keeps_counters(backend: AsyncBackend) -> bool:
    return backend.shared and type(backend).scan is not AsyncBackend.scan


def _no_counters_note(cache: Cache) -> str:
    if cache.type == "local":
        return (
            "this backend keeps no shared counters: a local:// cache lives inside one "
            "process (each application's cache.stats() has its own)"
        )
    return (
        f"this backend keeps no shared counters: {cache.type} is not shared between "
        "processes or cannot list its keys"
    )


def _counters_note(totals: SharedTotals, only: str | None) -> str:
    if not totals.writers:
        scope = "" if only is None else f" of namespace {only!r}"
        return (
            f"no shared counters yet: no cache{scope} with shared_stats=True has written to "
            "this store (they write at most once a second, and when closed)"
        )
    since = _utc(totals.since)
    note = (
        f"shared counters from {totals.processes} process{'es' if totals.processes != 1 else ''}"
        f" ({totals.writers} cache{'s' if totals.writers != 1 else ''}), since {since}, "
        f"last written {_utc(totals.updated)}"
    )
    if totals.unreadable:
        note += f"; {totals.unreadable} unreadable snapshot(s) skipped"
    return note


def _utc(stamp: float | None) -> str:
    if stamp is None:
        return "?"
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _usage(backend: AsyncBackend, prefix: str) -> Usage | None:
    try:
        return await backend.usage(prefix)
    except NotImplementedError:
        return None


async def gather_stats(cache: Cache, only: str | None) -> StatsReport:
    """Probe, read the shared counters (of namespace ``only``, or all) and the usage of
    each namespace they name (and of the cache's own)."""
    engine, backend = cache._engine, cache.backend
    start = time.perf_counter()
    await engine.fetch(storage_key(_PROBE_KEY, cache.namespace))  # uncounted
    report = StatsReport(time.perf_counter() - start, None, _no_counters_note(cache))
    if _keeps_counters(backend):
        report.totals = await read_shared_totals(backend, engine.io, only)
        report.counters_note = _counters_note(report.totals, only)
    namespaces = [cache.namespace]
    if report.totals is not None and only is None:
        namespaces += sorted(set(report.totals.tables["by_namespace"]) - {cache.namespace})
    for namespace in namespaces:
        prefix = namespace_prefix(namespace)
        report.usage[namespace] = await engine.io("usage", _usage, backend, prefix)
    if report.usage[cache.namespace] is None:
        report.usage_note = f"not reported: the {cache.type} backend cannot report its usage"
    elif cache.type == "local":
        report.usage_note = "a local:// cache lives inside one process; this CLI process's is empty"
    return report


def _tally_cells(row: dict[str, Any]) -> list[object]:
    if "hits" not in row:  # no shared counters: nothing counted, not zero
        return ["-"] * len(_TALLY_COLUMNS)
    cost = row.get("cost_saved")
    return [
        row.get("hits", 0),
        row.get("misses", 0),
        f"{row.get('hit_ratio', 0.0):.2f}",
        row.get("tokens_saved", 0),
        "-" if cost is None else (f"${cost:,.2f}" if cost >= 1 else f"${cost:.6f}"),
        format_seconds(row.get("latency_saved_s", 0.0)),
    ]


def namespace_rows(report: StatsReport) -> dict[str, dict[str, Any]]:
    """Per namespace: the shared counters' slice plus entries and bytes stored."""
    counted = {} if report.totals is None else report.totals.as_dict()["by_namespace"]
    rows: dict[str, dict[str, Any]] = {}
    for namespace in sorted(set(report.usage) | set(counted)):
        usage = report.usage.get(namespace)
        rows[namespace] = {
            **counted.get(namespace, {}),
            "entries": None if usage is None else usage.entries,
            "bytes": None if usage is None else usage.bytes,
        }
    return rows


def render_stats(doc: dict[str, Any]) -> str:
    """The human form of ``cachekit stats``'s JSON document."""
    provided = f" ({doc['distribution']} {doc['version']})" if doc.get("distribution") else ""
    lines = [
        f"backend    {doc['backend']}{provided}",
        f"url        {doc['url']}",
        f"reachable  yes (a probe lookup took {format_seconds(doc['probe_s'])}; not counted)",
        f"counters   {doc['counters']['note']}",
    ]
    if doc["entries_note"]:
        lines.append(f"usage      {doc['entries_note']}")
    counters = doc["counters"]
    if counters.get("writers"):
        lines += ["", "all counted traffic:", table(_TALLY_COLUMNS, [_tally_cells(counters)])]
    rows = [
        [
            ns,
            "?" if row["entries"] is None else row["entries"],
            "?" if row["bytes"] is None else format_bytes(row["bytes"]),
            *_tally_cells(row),
        ]
        for ns, row in doc["namespaces"].items()
    ]
    lines += ["", table(["namespace", "entries", "stored", *_TALLY_COLUMNS], rows)]
    models = counters.get("by_model") or {}
    if models:
        model_rows = [[model, *_tally_cells(row)] for model, row in models.items()]
        lines += ["", table(["model", *_TALLY_COLUMNS], model_rows)]
    return "\n".join(lines)
