"""Encryption at rest: what AES-256-GCM adds to a hit, and how fast ``rekey`` rotates.

* **encrypted get hit, 1 KB, local / redis**: ``Cache(encryption_key=...).aget`` of a
  ~1 KB JSON value against the same cache unencrypted (the floor), on the in-process
  ``local`` backend and on a ``redis-server`` started for the run (sequential awaited
  reads). Target: ≤ 1.3x the unencrypted hit.
* **rekey throughput, redis**: ``Cache.arekey`` re-encrypting every entry of a
  namespace of ``REKEY_ENTRIES`` 1 KB entries (each with its own lifetime), timed over
  rounds that alternate between two keys so each round does the full work. The floor
  is the same copy without cachekit or crypto: redis-py ``SCAN`` + ``MGET`` per page +
  one ``SET … PX`` per entry, pipelined. Reported per entry; the notes give entries/s.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.harness import Ctx, Op, Row, Settings, Target, Workload, short_reason

ORDER = 28

KEY = "bench:enc:hit"
VALUE: dict[str, Any] = {
    "id": "chatcmpl-bench-0001",
    "model": "gpt-4o-mini",
    "content": "A cached answer of about one kilobyte. " * 24,
    "tokens": 213,
}
TTL = 3600
REKEY_ENTRIES = 2000
KEY_A = os.urandom(32)
KEY_B = os.urandom(32)
TARGET = Target("≤ 1.3x unencrypted", ratio_max=1.3)


class _Server:
    """One redis-server per workload, started on first use, stopped after timing."""

    def __init__(self, ctx: Ctx | None = None) -> None:
        self._ctx = ctx
        self.server: Any = None

    def get(self) -> Any:
        if self.server is None:
            from cachekit_redis.testing import RedisServer

            self.server = RedisServer().start()
            if self._ctx is not None:
                self._ctx.defer(self.server.close)
        return self.server


def _hits(ctx: Ctx, options: Callable[[], dict[str, Any]], where: str) -> None:
    def make(**extra: Any) -> Op:
        from cachekit import Cache

        cache = Cache(**options(), **extra)
        ctx.defer(cache.aclose)
        ctx.run(cache.aset(KEY, VALUE, ttl=TTL))
        return lambda: cache.aget(KEY)

    ctx.add(f"cachekit {where} aget, unencrypted", make, floor=True, expect=VALUE)
    ctx.add(
        f"cachekit {where} aget, encryption_key=",
        lambda: make(encryption_key=KEY_A, namespace="enc"),
        targeted=True,
        expect=VALUE,
        note="AES-256-GCM open + tag check per hit",
    )


def build_local(ctx: Ctx) -> None:
    _hits(ctx, lambda: {"type": "local"}, "local")


def build_redis(ctx: Ctx) -> None:
    server = _Server(ctx)

    def options() -> dict[str, Any]:
        srv = server.get()
        return {"type": "redis", "host": srv.host, "port": srv.port}

    _hits(ctx, options, "redis")


# -- rekey throughput -------------------------------------------------------------------
async def _fill(cache: Any) -> None:
    items = {f"e{i}": {**VALUE, "i": i} for i in range(REKEY_ENTRIES)}
    await cache.aset_many(items, ttl=TTL)


async def _raw_copy(client: Any, prefix: str) -> int:
    """The floor: read every entry and write its bytes back (a fixed lifetime: no
    envelope to read one from), page by page."""
    count = 0
    batch: list[bytes] = []

    async def flush(keys: list[bytes]) -> int:
        values = await client.mget(keys)
        pipe = client.pipeline(transaction=False)
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                pipe.set(key, value, px=TTL * 1000)
        await pipe.execute()
        return len(keys)

    async for key in client.scan_iter(match=prefix + "*", count=100):
        batch.append(key)
        if len(batch) >= 100:
            count += await flush(batch)
            batch = []
    if batch:
        count += await flush(batch)
    return count


def _timed(rounds: int, run: Callable[[int], Awaitable[int]]) -> list[float]:
    """ns per entry for each round (``run(round)`` returns the entries it rewrote)."""

    async def main() -> list[float]:
        out = []
        for r in range(rounds):
            t0 = time.perf_counter_ns()
            done = await run(r)
            out.append((time.perf_counter_ns() - t0) / max(done, 1))
        return out

    return asyncio.run(main())


def measure_rekey(settings: Settings) -> list[Row]:
    from cachekit import Cache

    name = f"rekey throughput, redis, {REKEY_ENTRIES} x 1 KB entries"
    rounds = max(3, settings.rounds // 4)
    server = _Server()
    try:
        srv = server.get()
    except Exception as exc:
        return [Row(name, "redis-server", unavailable=short_reason(exc))]

    def cache(namespace: str, **extra: Any) -> Any:
        return Cache(type="redis", host=srv.host, port=srv.port, namespace=namespace, **extra)

    async def fill(namespace: str, **extra: Any) -> None:
        target = cache(namespace, **extra)
        try:
            await _fill(target)
        finally:
            await target.aclose()

    async def floor_round(_: int) -> int:
        import redis.asyncio as aioredis

        client = aioredis.Redis(host=srv.host, port=srv.port)
        try:
            return await _raw_copy(client, "cachekit:v2:rawcopy:")
        finally:
            await client.aclose()

    async def rekey_round(r: int) -> int:
        new, old = (KEY_B, KEY_A) if r % 2 == 0 else (KEY_A, KEY_B)
        rekeying = cache("rekey", encryption_key=new, timeout=None)
        try:
            report = await rekeying.arekey(old_keys=old)
        finally:
            await rekeying.aclose()
        if report.rekeyed != REKEY_ENTRIES:
            raise RuntimeError(f"rekeyed {report.rekeyed} of {REKEY_ENTRIES}")
        return int(report.rekeyed)

    rows: list[Row] = []
    try:
        asyncio.run(fill("rawcopy"))
        asyncio.run(fill("rekey", encryption_key=KEY_A))
        floor_ns: list[float] = []
        mine: list[float] = []
        for r in range(rounds):  # interleaved, one round of each at a time
            floor_ns += _timed(1, floor_round)
            mine += _timed(1, lambda _, r=r: rekey_round(r))
        rows.append(
            _row(name, "redis-py SCAN + MGET + pipelined SET PX, no crypto", floor_ns, floor=True)
        )
        row = _row(name, "cachekit Cache.arekey", mine)
        row.ratio = statistics.median(a / b for a, b in zip(mine, floor_ns, strict=True))
        rows.append(row)
    except Exception as exc:
        rows.append(Row(name, "cachekit Cache.arekey", unavailable=short_reason(exc)))
    finally:
        server.server.close()
    return rows


def _row(name: str, impl: str, per_entry_ns: list[float], *, floor: bool = False) -> Row:
    median = statistics.median(per_entry_ns)
    return Row(
        name,
        impl,
        median=median,
        p99=max(per_entry_ns),
        floor=floor,
        note=f"{1e9 / median:,.0f} entries/s (median of {len(per_entry_ns)} rounds; p99 column: slowest round)",
    )


WORKLOADS = [
    Workload("encrypted get hit, 1 KB, local", build=build_local, target=TARGET),
    Workload("encrypted get hit, 1 KB, redis (sequential)", build=build_redis, target=TARGET),
    Workload(f"rekey throughput, redis, {REKEY_ENTRIES} x 1 KB entries", measure=measure_rekey),
]
