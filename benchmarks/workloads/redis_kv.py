"""Redis reads against a local ``redis-server`` started for the run (127.0.0.1, free port).

Three workloads, each with the raw client as the floor:

* **get hit, sequential**: one awaited read at a time; floor ``redis.asyncio`` GET +
  ``json.loads``. Target: cachekit ≤ 1.2x the floor's latency.
* **get hit, 64 concurrent tasks**: one op is 64 reads gathered at once (time per
  op ∝ 1 / throughput). Target: cachekit ≥ 0.85x the floor's throughput, i.e.
  ≤ 1.18x its time per op. cachekit coalesces concurrent reads into ``MGET``s by
  default; a second row shows it with ``coalesce_reads=False`` (one ``GET`` per read).
* **batch read of 100 embeddings** (per-item entries, 256 floats each): floor one
  ``MGET`` + ``json.loads`` per item; cachekit's ``aget_many`` (checked during setup
  to be exactly one ``MGET`` and no ``GET`` on the server). Target ≤ 1.2x.
* **shared counters on the hit path**: a wrapped async LLM call hit (1 KB messages)
  with ``Cache(shared_stats=True)`` against the same cache with it off, both with an
  L1 in front of Redis (``l1_ttl``: the cheapest hit a shared store has, so the
  counters' share of it is the largest). Target ≤ 1.05x; a row without the L1 too.

Every peer writes with the same TTL (3600 s; LiteLLM's default is 60 s). Pools are
as the peers ship them: redis-py's is unbounded, LiteLLM's 50, cashews' 10
connections. cashews pickles values; everyone else stores JSON.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import peers
from benchmarks.harness import Ctx, Op, Target, Workload

ORDER = 25

TTL = 3600
CONCURRENCY = 64
BATCH = 100
DIMS = 256
KEY = "bench:redis:hit:"  # + the implementation's tag: setup runs for all before timing
VALUE: dict[str, Any] = {
    "id": "chatcmpl-bench-0001",
    "model": "gpt-4o-mini",
    "content": "The cached answer to a repeated question, about one hundred characters "
    "long, give or take a few.",
    "tokens": 27,
}
_rng = random.Random(7)
VECTORS = [[round(_rng.uniform(-1, 1), 6) for _ in range(DIMS)] for _ in range(BATCH)]


def item_keys(tag: str) -> list[str]:
    return [f"bench:redis:emb:{tag}:{i}" for i in range(BATCH)]


class _Server:
    """One redis-server for a workload (started on first use, stopped after timing)."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._server: Any = None

    def get(self) -> Any:
        if self._server is None:
            from cachekit_redis.testing import RedisServer

            self._server = RedisServer().start()
            self._ctx.defer(self._server.close)
        return self._server


def _gather(one: Callable[[], Awaitable[Any]]) -> Op:
    """An op that runs ``CONCURRENCY`` reads as concurrent tasks."""

    async def op() -> list[Any]:
        return list(await asyncio.gather(*(one() for _ in range(CONCURRENCY))))

    return op


def _single_reads(ctx: Ctx, concurrent: bool) -> None:
    server = _Server(ctx)
    expect: Any = [VALUE] * CONCURRENCY if concurrent else VALUE

    def shape(one: Callable[[], Awaitable[Any]]) -> Op:
        return _gather(one) if concurrent else one

    def raw() -> Op:
        srv = server.get()
        client = peers.module("redis.asyncio").Redis(host=srv.host, port=srv.port)
        ctx.defer(client.aclose)
        key = KEY + "raw"
        ctx.run(client.set(key, json.dumps(VALUE), ex=TTL))

        async def one() -> Any:
            return json.loads(await client.get(key))

        return shape(one)

    ctx.add("redis.asyncio GET + json.loads", raw, floor=True, expect=expect)

    def cachekit_op() -> Op:
        from cachekit import Cache

        srv = server.get()
        cache = Cache(type="redis", host=srv.host, port=srv.port)
        ctx.defer(cache.aclose)
        key = KEY + "cachekit"
        ctx.run(cache.aset(key, VALUE, ttl=TTL))
        return shape(lambda: cache.aget(key))

    ctx.add(
        "cachekit Cache(type='redis').aget",
        cachekit_op,
        targeted=True,
        expect=expect,
        note="concurrent reads coalesced into MGETs (coalesce_reads, the default)"
        if concurrent
        else "",
    )

    def cachekit_plain() -> Op:
        from cachekit import Cache

        srv = server.get()
        cache = Cache(type="redis", host=srv.host, port=srv.port, coalesce_reads=False)
        ctx.defer(cache.aclose)
        key = KEY + "cachekit-plain"
        ctx.run(cache.aset(key, VALUE, ttl=TTL))
        return shape(lambda: cache.aget(key))

    if concurrent:
        ctx.add(
            "cachekit aget, coalesce_reads=False",
            cachekit_plain,
            expect=expect,
            note="one GET per read, like the peers",
        )

    def litellm_op() -> Op:
        srv = server.get()
        redis_cache = peers.module("litellm.caching.redis_cache").RedisCache(
            host=srv.host, port=srv.port
        )
        key = KEY + "litellm"
        ctx.run(redis_cache.async_set_cache(key, VALUE, ttl=TTL))
        return shape(lambda: redis_cache.async_get_cache(key))

    ctx.add(
        "LiteLLM RedisCache.async_get_cache",
        litellm_op,
        expect=expect,
        note="pool of 50 connections; a background logging task per call",
    )

    def aiocache_op() -> Op:
        srv = server.get()
        cache = peers.module("aiocache").RedisCache(endpoint=srv.host, port=srv.port)
        ctx.defer(cache.close)
        key = KEY + "aiocache"
        ctx.run(cache.set(key, VALUE, ttl=TTL))
        return shape(lambda: cache.get(key))

    ctx.add(
        "aiocache RedisCache.get",
        aiocache_op,
        expect=expect,
        note="default timeout=5 (each op through asyncio.wait_for); JSON serializer",
    )

    def cashews_op() -> Op:
        srv = server.get()
        cache = peers.cashews_cache(f"redis://{srv.host}:{srv.port}/0")
        ctx.defer(cache.close)
        key = KEY + "cashews"
        ctx.run(cache.set(key, VALUE, expire=TTL))
        return shape(lambda: cache.get(key))

    ctx.add(
        "cashews redis:// get",
        cashews_op,
        expect=expect,
        note="pool of 10 connections; pickled values",
    )


def build_sequential(ctx: Ctx) -> None:
    _single_reads(ctx, concurrent=False)


def build_concurrent(ctx: Ctx) -> None:
    _single_reads(ctx, concurrent=True)


def build_batch(ctx: Ctx) -> None:
    server = _Server(ctx)
    expect = VECTORS

    def raw_client(keys: list[str]) -> Any:
        srv = server.get()
        client = peers.module("redis.asyncio").Redis(host=srv.host, port=srv.port)
        ctx.defer(client.aclose)
        ctx.run(client.mset({k: json.dumps(v) for k, v in zip(keys, VECTORS, strict=True)}))
        return client

    def raw() -> Op:
        keys = item_keys("raw")
        client = raw_client(keys)

        async def op() -> list[Any]:
            return [json.loads(v) for v in await client.mget(keys)]

        return op

    ctx.add("redis.asyncio MGET + json.loads per item", raw, floor=True, expect=expect)

    def raw_bytes() -> Op:
        keys = item_keys("raw-bytes")
        client = raw_client(keys)
        return lambda: client.mget(keys)

    ctx.add("redis.asyncio MGET (bytes, no decoding)", raw_bytes, reference=True)

    def cachekit_op() -> Op:
        from cachekit import Cache

        srv = server.get()
        cache = Cache(type="redis", host=srv.host, port=srv.port)
        ctx.defer(cache.aclose)
        keys = item_keys("cachekit")
        ctx.run(cache.aset_many(dict(zip(keys, VECTORS, strict=True)), ttl=TTL))
        mgets, gets = srv.command_calls("mget"), srv.command_calls("get")
        ctx.run(cache.aget_many(keys))
        if (srv.command_calls("mget") - mgets, srv.command_calls("get") - gets) != (1, 0):
            raise RuntimeError("aget_many was not exactly one MGET")
        return lambda: cache.aget_many(keys)

    ctx.add(
        "cachekit Cache(type='redis').aget_many",
        cachekit_op,
        targeted=True,
        expect=expect,
        note="checked: one MGET, no GET, per batch",
    )

    def litellm_op() -> Op:
        srv = server.get()
        redis_cache = peers.module("litellm.caching.redis_cache").RedisCache(
            host=srv.host, port=srv.port
        )
        keys = item_keys("litellm")
        ctx.run(
            redis_cache.async_set_cache_pipeline(list(zip(keys, VECTORS, strict=True)), ttl=TTL)
        )

        async def op() -> list[Any]:
            found = await redis_cache.async_batch_get_cache(keys)
            return [found[k] for k in keys]

        return op

    ctx.add("LiteLLM RedisCache.async_batch_get_cache", litellm_op, expect=expect)

    def aiocache_op() -> Op:
        srv = server.get()
        cache = peers.module("aiocache").RedisCache(endpoint=srv.host, port=srv.port)
        ctx.defer(cache.close)
        keys = item_keys("aiocache")
        ctx.run(cache.multi_set(list(zip(keys, VECTORS, strict=True)), ttl=TTL))
        return lambda: cache.multi_get(keys)

    ctx.add("aiocache RedisCache.multi_get", aiocache_op, expect=expect, note="default timeout=5")

    def cashews_op() -> Op:
        srv = server.get()
        cache = peers.cashews_cache(f"redis://{srv.host}:{srv.port}/0")
        ctx.defer(cache.close)
        keys = item_keys("cashews")
        ctx.run(cache.set_many(dict(zip(keys, VECTORS, strict=True)), expire=TTL))

        async def op() -> list[Any]:
            return list(await cache.get_many(*keys))

        return op

    ctx.add("cashews redis:// get_many", cashews_op, expect=expect, note="pickled values")


def build_shared_stats(ctx: Ctx) -> None:
    from benchmarks.workloads.keys import request_kwargs
    from benchmarks.workloads.llm_calls import MISSED, RESPONSE, Provider

    server = _Server(ctx)
    kwargs = request_kwargs(1024)

    def hit(shared: bool, l1: bool) -> Callable[[], Op]:
        def make() -> Op:
            from cachekit import Cache

            options: dict[str, Any] = {"l1_ttl": 3600.0} if l1 else {}
            namespace = f"bench-shared-{int(shared)}{int(l1)}"
            cache = Cache.from_url(
                server.get().url, namespace=namespace, shared_stats=shared, **options
            )
            ctx.defer(cache.aclose)
            provider = Provider()
            wrapped = cache.cached("acompletion")(provider.acall)
            ctx.run(wrapped(**kwargs))  # the miss: stored
            provider.answer = MISSED
            return lambda: wrapped(**kwargs)

        return make

    ctx.add("cachekit hit, redis + L1, shared_stats off", hit(False, True), floor=True)
    ctx.add(
        "cachekit hit, redis + L1, shared_stats=True",
        hit(True, True),
        targeted=True,
        expect=RESPONSE,
        note="one snapshot write a second, on the background loop thread",
    )
    ctx.add("cachekit hit, redis, shared_stats off", hit(False, False), expect=RESPONSE)
    ctx.add("cachekit hit, redis, shared_stats=True", hit(True, False), expect=RESPONSE)


WORKLOADS = [
    Workload(
        "LLM call hit with shared counters (redis + L1)",
        build=build_shared_stats,
        target=Target("≤ 1.05x shared_stats off", ratio_max=1.05),
    ),
    Workload(
        "redis get hit, sequential (small JSON)",
        build=build_sequential,
        target=Target("≤ 1.2x floor", ratio_max=1.2),
    ),
    Workload(
        f"redis get hit, {CONCURRENCY} concurrent tasks (time per {CONCURRENCY} reads)",
        build=build_concurrent,
        target=Target("≥ 0.85x floor throughput (≤ 1.18x time)", ratio_max=1 / 0.85),
    ),
    Workload(
        f"redis batch read, {BATCH} embeddings x {DIMS} floats",
        build=build_batch,
        target=Target("≤ 1.2x floor", ratio_max=1.2),
    ),
]
