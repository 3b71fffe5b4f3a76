"""Wall-time figures for a Redis Cluster master killed under a cache (issue 15 item 7).

Run: ``.venv/bin/python -m benchmarks.cluster_failover [--rounds 3] [--node-timeout-ms 2000]
[--full-coverage]`` from the repo root (the workspace venv: it needs ``redis-server``
and ``cachekit-redis``). Each round starts a 3-master, 3-replica cluster on free
loopback ports, stores entries on every master, then calls a wrapped provider every
``--interval`` seconds, for three requests whose entries live on the master about to
die and then one on another master (three failed calls in a row: enough to open a
breaker of threshold 3), while it SIGKILLs that master. Printed
per round, for cachekit's per-node breakers and for one breaker over the whole
cluster (the same backend with ``fault_domain`` switched off):

* ``kill→hit``: time from the kill to the first hit on the dead master's slots
  (served by the promoted replica);
* ``ok→hit``: from the moment every live node's ``CLUSTER INFO`` says
  ``cluster_state:ok`` with every slot ok (after the failover) to that first hit;
* ``other hit%``: the share of calls on the other masters' slots that hit between
  the kill and the first hit above (100 %: they never stopped caching).

Real clocks and the default breaker settings (threshold 3, cooldown 2 s doubling to
30 s; per-node breakers probe every 0.5 s). Nothing here is asserted: the test
``plugins/redis/tests/test_cluster_failover.py`` holds the behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from cachekit import AsyncBackend, Cache, build_plugin_manager, hookimpl
from cachekit_redis import RedisBackend
from cachekit_redis.testing import RedisClusterServer
from redis.crc import key_slot


class OneBreakerRedis(RedisBackend):
    """The redis backend without fault domains: one breaker for the whole cluster."""

    fault_domain = AsyncBackend.fault_domain


class OneBreakerPlugin:
    @hookimpl
    def cachekit_register_backends(
        self, register: Callable[[str, Callable[..., Any]], None]
    ) -> None:
        register("redis-one-breaker", OneBreakerRedis)


def _request(i: int) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": f"failover {i}"}]}


async def _round(type_name: str, args: argparse.Namespace) -> dict[str, float]:
    with RedisClusterServer(
        replicas=1,
        node_timeout_ms=args.node_timeout_ms,
        require_full_coverage=args.full_coverage,
    ) as cluster:
        pm = build_plugin_manager()
        pm.register(OneBreakerPlugin())
        cache = Cache(type=type_name, url=cluster.url, timeout=1.0, plugins=pm)
        calls: list[int] = []

        @cache.cached("acompletion")
        async def provider(**kwargs: Any) -> dict[str, int]:
            calls.append(1)
            return {"n": len(calls)}

        victim = cluster.node_for_slot(0)
        owners = [
            (r, cluster.node_for_slot(key_slot(cache.get_cache_key(**r).encode())))
            for r in map(_request, range(100))
        ]
        dead = [r for r, owner in owners if owner is victim][:3]
        alive = next(r for r, owner in owners if owner is not victim)
        for req in (*dead, alive):
            await provider(**req)
        await asyncio.to_thread(cluster.wait_replicated, victim)

        ok_at: list[float] = []

        def watch() -> None:
            cluster.wait_failover(victim, 60.0)
            ok_at.append(time.monotonic())

        killed = time.monotonic()
        victim.kill()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        other_hits = other_calls = 0
        hit_at = None
        while hit_at is None and time.monotonic() - killed < 60:
            for req in (*dead, alive):
                before = len(calls)
                await provider(**req)
                hit = len(calls) == before
                if req is alive:
                    other_calls += 1
                    other_hits += hit
                elif hit:
                    hit_at = time.monotonic()
            await asyncio.sleep(args.interval)
        watcher.join(60)
        await cache.aclose()
    ok = ok_at[0] if ok_at else float("nan")
    end = hit_at if hit_at is not None else float("nan")
    return {
        "kill_to_hit": end - killed,
        "ok_to_hit": end - ok,
        "failover": ok - killed,
        "other_hit_pct": 100.0 * other_hits / max(1, other_calls),
    }


async def main(args: argparse.Namespace) -> None:
    print(
        f"node timeout {args.node_timeout_ms} ms, full coverage {args.full_coverage}, "
        f"3 + 1 calls every {args.interval * 1000:.0f} ms"
    )
    print("| breakers | round | failover | kill→hit | ok→hit | other hit% |")
    print("|---|--:|--:|--:|--:|--:|")
    for type_name, label in (("redis", "per node"), ("redis-one-breaker", "one")):
        for n in range(args.rounds):
            r = await _round(type_name, args)
            print(
                f"| {label} | {n + 1} | {r['failover']:.2f} s | {r['kill_to_hit']:.2f} s "
                f"| {r['ok_to_hit']:.2f} s | {r['other_hit_pct']:.0f} % |"
            )


if __name__ == "__main__":
    logging.getLogger("cachekit").setLevel(logging.ERROR)  # the expected WARNING per round
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--node-timeout-ms", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--full-coverage", action="store_true")
    asyncio.run(main(parser.parse_args()))
