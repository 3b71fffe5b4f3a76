"""What ``single_flight="distributed"`` costs a miss, on a real redis-server.

* **LLM call miss on Redis** (1 KB messages, a new request every op, so every op is a
  miss that calls the provider and stores): ``Cache(type="redis")`` with the default
  in-process single-flight (the floor) against ``single_flight="distributed"``, which
  adds the lock's round trips to each miss: ``SET NX PX`` to take it, the re-read of
  the entry under the lock, and the Lua release that wakes waiters. The provider is a
  trivial in-process function, so the rows show the cache's own cost of a miss, which a
  real provider call (hundreds of milliseconds) dwarfs. No target: a figure to know.
* **hit** rows: the same caches on a stored request; a hit never touches the lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from benchmarks.harness import Ctx, Op, Workload

ORDER = 26


def build(ctx: Ctx) -> None:
    from benchmarks.workloads.keys import request_kwargs
    from benchmarks.workloads.llm_calls import RESPONSE, Provider
    from benchmarks.workloads.redis_kv import _Server

    server = _Server(ctx)
    base = request_kwargs(1024)

    def cached(mode: str) -> tuple[Any, Callable[..., Any]]:
        from cachekit import Cache

        cache = Cache.from_url(server.get().url, namespace=f"bench-sf-{mode}", single_flight=mode)
        ctx.defer(cache.aclose)
        return cache, cache.cached("acompletion")(Provider().acall)

    def miss(mode: str) -> Callable[[], Op]:
        def make() -> Op:
            _, wrapped = cached(mode)
            counter = itertools.count()
            messages = base["messages"]

            def op() -> Any:
                ask = {**messages[-1], "content": f"{next(counter)} {messages[-1]['content']}"}
                return wrapped(**{**base, "messages": [*messages[:-1], ask]})

            return op

        return make

    def hit(mode: str) -> Callable[[], Op]:
        def make() -> Op:
            _, wrapped = cached(mode)
            ctx.run(wrapped(**base))
            return lambda: wrapped(**base)

        return make

    ctx.add("cachekit miss, single_flight='process'", miss("process"), floor=True)
    ctx.add(
        "cachekit miss, single_flight='distributed'",
        miss("distributed"),
        expect=RESPONSE,
        note="+ SET NX PX, a re-read under the lock, the Lua release",
    )
    ctx.add("cachekit hit, single_flight='process'", hit("process"), expect=RESPONSE)
    ctx.add(
        "cachekit hit, single_flight='distributed'",
        hit("distributed"),
        expect=RESPONSE,
        note="a hit never takes the lock",
    )


WORKLOADS = [Workload("LLM call on Redis, distributed single-flight", build=build)]
