"""Reading shared counters: snapshots added up exactly, malformed ones skipped and
counted (never guessed at), a namespace read alone. Snapshots are written by hand
into a real ``LocalBackend`` (the format is the contract between writers and readers;
the writers are exercised against real shared stores in ``tests/test_shared_stats.py``
and the contract suite)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from cachekit import LocalBackend
from cachekit._engine._shared import STATS_PREFIX
from cachekit._engine._shared_totals import read_shared_totals

pytestmark = pytest.mark.anyio


def tally(hits: int, misses: int, tokens: int = 0, cost: float = 0.0, priced: int = 0) -> Any:
    return {
        "hits": hits,
        "misses": misses,
        "tokens_saved": tokens,
        "latency_saved_s": 0.25 * hits,
        "cost_saved": cost,
        "priced": priced,
    }


def snapshot(process: str, hits: int, misses: int, changes: Any = None) -> dict[str, Any]:
    doc = {
        "v": 1,
        "process": process,
        "writer": f"{process}-w",
        "namespace": "ns",
        "backend": "local",
        "started_at": 1000.0 + hits,
        "updated_at": 2000.0 + hits,
        "flushes": 1,
        "hits": hits,
        "misses": misses,
        "stores": misses,
        "errors": 0,
        "saved": tally(0, 0, 10 * hits, 0.5 * hits, hits),
        "by_namespace": {"ns": tally(hits, misses)},
        "by_model": {"gpt": tally(hits, misses, 10 * hits, 0.5 * hits, hits)},
        "by_call_type": {"completion": tally(hits, misses)},
    }
    doc.update(changes or {})
    return doc


async def io(op: str, call: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return await call(*args)


async def store(backend: LocalBackend, key: str, doc: Any) -> None:
    await backend.set(STATS_PREFIX + key, orjson.dumps(doc), None)


async def test_snapshots_add_up_exactly() -> None:
    backend = LocalBackend()
    await store(backend, "ns:a", snapshot("p1", 3, 1))
    await store(backend, "ns:b", snapshot("p1", 4, 2))
    await store(backend, "other:c", snapshot("p2", 5, 0, {"namespace": "other"}))
    totals = await read_shared_totals(backend, io)
    assert (totals.writers, totals.processes, totals.unreadable) == (3, 2, 0)
    doc = totals.as_dict()
    assert (doc["hits"], doc["misses"], doc["stores"]) == (12, 3, 3)
    assert doc["hit_ratio"] == 12 / 15
    assert doc["tokens_saved"] == 120
    assert doc["cost_saved"] == pytest.approx(6.0)
    assert doc["latency_saved_s"] == 0.0  # "saved" holds it; hand-written as 0 here
    assert doc["by_model"]["gpt"]["hits"] == 12
    assert doc["by_model"]["gpt"]["cost_saved"] == pytest.approx(6.0)
    assert doc["by_namespace"]["ns"]["latency_saved_s"] == pytest.approx(3.0)
    assert (doc["since"], doc["updated"]) == (1003.0, 2005.0)
    only = await read_shared_totals(backend, io, "ns")
    assert (only.writers, only.counts["hits"]) == (2, 7)


async def test_unpriced_savings_have_no_cost() -> None:
    backend = LocalBackend()
    await store(backend, "ns:a", snapshot("p1", 2, 0, {"saved": tally(0, 0, 20)}))
    doc = (await read_shared_totals(backend, io)).as_dict()
    assert doc["cost_saved"] is None
    assert doc["by_namespace"]["ns"]["cost_saved"] is None


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[1, 2]",
        orjson.dumps(snapshot("p", 1, 1, {"v": 2})),
        orjson.dumps(snapshot("p", 1, 1, {"hits": True})),
        orjson.dumps(snapshot("p", 1, 1, {"misses": -1})),
        orjson.dumps(snapshot("p", 1, 1, {"started_at": "yesterday"})),
        orjson.dumps(snapshot("p", 1, 1, {"by_model": None})),
        orjson.dumps(snapshot("p", 1, 1, {"by_model": {"gpt": {"hits": 1}}})),
        orjson.dumps(snapshot("p", 1, 1, {"saved": tally(0, 0, cost=-1.0)})),
    ],
)
async def test_a_malformed_snapshot_is_skipped_and_counted(bad: bytes) -> None:
    backend = LocalBackend()
    await store(backend, "ns:good", snapshot("p1", 3, 1))
    await backend.set(STATS_PREFIX + "ns:bad", bad, None)
    totals = await read_shared_totals(backend, io)
    assert (totals.writers, totals.unreadable, totals.counts["hits"]) == (1, 1, 3)


async def test_stale_counters_add_up_and_older_snapshots_count_zero() -> None:
    backend = LocalBackend()
    stale = {"stale_hits": 2, "refreshes": 1, "refresh_failures": 1, "stale_on_error": 3}
    await store(backend, "ns:a", snapshot("p1", 3, 1, stale))
    await store(backend, "ns:b", snapshot("p2", 4, 2))  # written before stale counters
    doc = (await read_shared_totals(backend, io)).as_dict()
    assert (doc["writers"], doc["unreadable"]) == (2, 0)
    assert [doc[k] for k in stale] == [2, 1, 1, 3]
