"""In-process key-value get hit on a ~1 KB JSON value.

cachekit's ``local`` backend stores serialised bytes and returns a fresh object on
every hit (DESIGN.md); the memory peers below store the Python object and hand back
the same object. The floor (issue 17) is ``dict`` get + ``orjson.loads`` — the
like-for-like lower bound for a cache that returns fresh objects; a bare ``dict`` get
(what the shared-object peers pay) is shown for reference. Target: ≤ 1.5x the floor,
and faster than LiteLLM's ``InMemoryCache``, cashews and aiocache.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks import peers
from benchmarks.harness import Ctx, Op, Target, Workload

ORDER = 20

KEY = "bench:local:hit"
VALUE: dict[str, Any] = {
    "id": "chatcmpl-bench-0001",
    "model": "gpt-4o-mini",
    "content": "The cached answer to a repeated question, about one hundred characters "
    "long, give or take a few. " * 9,
    "tokens": 27,
}
_SHARED = "returns the stored object (no copy)"


def build(ctx: Ctx) -> None:
    import orjson

    store: dict[str, Any] = {KEY: VALUE}
    ctx.add("dict get", lambda: lambda: store[KEY], expect=VALUE)

    blobs: dict[str, bytes] = {KEY: json.dumps(VALUE).encode()}
    ctx.add(
        "dict get + orjson.loads",
        lambda: lambda: orjson.loads(blobs[KEY]),
        floor=True,
        expect=VALUE,
    )
    ctx.add("dict get + json.loads", lambda: lambda: json.loads(blobs[KEY]), expect=VALUE)

    def cachekit_async() -> Op:
        from cachekit import Cache

        cache = Cache(type="local")
        ctx.defer(cache.aclose)
        ctx.run(cache.aset(KEY, VALUE))
        return lambda: cache.aget(KEY)

    ctx.add("cachekit await aget", cachekit_async, targeted=True, expect=VALUE)

    def cachekit_sync() -> Op:
        from cachekit import Cache

        cache = Cache(type="local")
        ctx.defer(cache.close)
        cache.set(KEY, VALUE)
        return lambda: cache.get(KEY)

    ctx.add(
        "cachekit get (sync)",
        cachekit_sync,
        targeted=True,
        expect=VALUE,
        note="called with no running event loop",
    )

    def cashews_op() -> Op:
        cache = peers.cashews_cache("mem://")
        ctx.defer(cache.close)
        ctx.run(cache.set(KEY, VALUE))
        return lambda: cache.get(KEY)

    ctx.add("cashews mem:// get", cashews_op, expect=VALUE, note=_SHARED)

    def aiocache_op(timeout: float | None) -> Op:
        cache = peers.aiocache_memory(timeout)
        ctx.defer(cache.close)
        ctx.run(cache.set(KEY, VALUE))
        return lambda: cache.get(KEY)

    ctx.add(
        "aiocache SimpleMemoryCache get (default timeout=5)",
        lambda: aiocache_op(5),
        expect=VALUE,
        note="default: each op runs through asyncio.wait_for; " + _SHARED,
    )
    ctx.add(
        "aiocache SimpleMemoryCache get (timeout=None)",
        lambda: aiocache_op(None),
        expect=VALUE,
        note=_SHARED,
    )

    def litellm_inmemory() -> Op:
        cache = peers.litellm_in_memory()
        cache.set_cache(KEY, VALUE)
        return lambda: cache.async_get_cache(KEY)

    ctx.add(
        "LiteLLM InMemoryCache.async_get_cache",
        litellm_inmemory,
        expect=VALUE,
        note="default ttl 600 s, 200 entries; " + _SHARED,
    )

    def litellm_facade() -> Op:
        cache = peers.litellm_cache(type="local")
        cache.add_cache(VALUE, cache_key=KEY)
        return lambda: cache.async_get_cache(cache_key=KEY)

    ctx.add(
        "LiteLLM Cache(type='local').async_get_cache(cache_key=)",
        litellm_facade,
        expect=VALUE,
        note="facade: timestamp envelope + max-age check; " + _SHARED,
    )


WORKLOADS = [
    Workload(
        "local get hit (1 KB JSON)",
        build=build,
        target=Target("≤ 1.5x floor", ratio_max=1.5),
    )
]
