"""LiteLLM's own cache-hit path with cachekit behind ``litellm.cache`` (issue 13).

One workload, every row the same call, ``await litellm.acompletion(**kwargs,
mock_response=ANSWER)`` with a ~1 KB chat request, answered from ``litellm.cache``:

* LiteLLM's ``Cache(type="local")`` (the floor: the ratio column is "x LiteLLM local");
* LiteLLM's ``Cache(type="redis")`` on a ``redis-server`` the workload starts on a free
  loopback port (LiteLLM puts its in-process ``DualCache`` tier in front of Redis, so
  its hits are memory reads after the first);
* ``cachekit_litellm.Cache(type="local")``;
* ``cachekit_litellm.Cache(type="redis")`` on the same server: one Redis round trip per
  hit;
* ``cachekit_litellm.Cache(type="redis", l1_ttl=60)``: cachekit's in-process tier in
  front, like-for-like with LiteLLM's ``DualCache``.

``litellm.cache`` is a global, so each operation assigns its row's cache first (the
same ~50 ns for every row). Each cache is primed once (and LiteLLM's background write
awaited); every timed call must come back with ``_hidden_params["cache_hit"]`` set, or
the row is reported ``n/a``.

An operation is the call **plus LiteLLM's success logging of that hit**: every hit
queues an ``async_success_handler`` on LiteLLM's logging worker (a task on this loop),
and the operation ends with ``await GLOBAL_LOGGING_WORKER.flush()``. Without it the
comparison is wrong: a row whose read never yields to the loop (both in-process caches)
leaves the queued logging undone during its own batch, while a row that awaits a Redis
round trip runs the whole backlog inside its timing (measured: ~11 ms per "hit" vs
~2 ms, almost all of it LiteLLM's logging of earlier hits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks import peers
from benchmarks.harness import Ctx, Op, Row, Workload
from benchmarks.workloads.keys import request_kwargs
from benchmarks.workloads.llm_calls import ANSWER, LITELLM_HIT, Check, checked

ORDER = 55

TTL = 3600
NAME = "LiteLLM acompletion hit through litellm.cache, 1 KB messages"


class _Server:
    """The workload's redis-server (started on first use, stopped after timing)."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._server: Any = None

    def get(self) -> Any:
        if self._server is None:
            from cachekit_redis.testing import RedisServer

            self._server = RedisServer().start()
            self._ctx.defer(self._server.close)
        return self._server


def _build(ctx: Ctx, checks: dict[str, Check]) -> None:
    kwargs = request_kwargs(1024)
    server = _Server(ctx)
    litellm: Any = None

    def use_litellm() -> Any:
        nonlocal litellm
        if litellm is None:
            litellm = peers.module("litellm")
            previous = litellm.cache
            ctx.defer(lambda: setattr(litellm, "cache", previous))
            # LiteLLM's logging worker is a task on this workload's loop: stop it (after
            # flushing) before the harness closes the loop.
            worker = peers.module("litellm.litellm_core_utils.logging_worker")
            ctx.defer(worker.GLOBAL_LOGGING_WORKER.stop)
        return litellm

    def row(tag: str, make_cache: Callable[[], Any]) -> Callable[[], Op]:
        def make() -> Op:
            lib = use_litellm()
            wait_for_writes = peers.module("cachekit_litellm").wait_for_writes
            cache = make_cache()
            acompletion = lib.acompletion
            worker = peers.module("litellm.litellm_core_utils.logging_worker").GLOBAL_LOGGING_WORKER
            misses = [0]

            async def prime() -> None:
                lib.cache = cache
                await acompletion(**kwargs, mock_response=ANSWER)
                await wait_for_writes()  # LiteLLM stores in a background task

            ctx.run(prime())

            async def op() -> Any:
                lib.cache = cache
                result = await acompletion(**kwargs, mock_response=ANSWER)
                await worker.flush()  # this hit's success logging, in this row's time
                if not result._hidden_params.get("cache_hit"):
                    misses[0] += 1
                return result

            checks[tag] = lambda: None if misses[0] == 0 else f"{misses[0]} timed call(s) missed"
            return op

        return make

    def litellm_local() -> Any:
        return use_litellm().Cache(type="local", ttl=TTL)

    def litellm_redis() -> Any:
        srv = server.get()
        return use_litellm().Cache(type="redis", host=srv.host, port=srv.port, ttl=TTL)

    def cachekit_cache(**options: Any) -> Callable[[], Any]:
        def make() -> Any:
            cache = peers.module("cachekit_litellm").Cache(ttl=TTL, **options)
            ctx.defer(cache.aclose)
            return cache

        return make

    def cachekit_redis(**options: Any) -> Callable[[], Any]:
        def make() -> Any:
            srv = server.get()
            return cachekit_cache(type="redis", host=srv.host, port=srv.port, **options)()

        return make

    ctx.add(
        "LiteLLM Cache(type='local')",
        row("LiteLLM Cache(type='local')", litellm_local),
        floor=True,
        expect=LITELLM_HIT,
    )
    ctx.add(
        "LiteLLM Cache(type='redis')",
        row("LiteLLM Cache(type='redis')", litellm_redis),
        expect=LITELLM_HIT,
        note="hits come from LiteLLM's in-process DualCache tier",
    )
    ctx.add(
        "cachekit_litellm.Cache(type='local')",
        row("cachekit_litellm.Cache(type='local')", cachekit_cache(type="local")),
        targeted=True,
        expect=LITELLM_HIT,
    )
    ctx.add(
        "cachekit_litellm.Cache(type='redis')",
        row("cachekit_litellm.Cache(type='redis')", cachekit_redis()),
        expect=LITELLM_HIT,
        note="one Redis round trip per hit",
    )
    ctx.add(
        "cachekit_litellm.Cache(type='redis', l1_ttl=60)",
        row("cachekit_litellm.Cache(type='redis', l1_ttl", cachekit_redis(l1_ttl=60)),
        expect=LITELLM_HIT,
        note="cachekit's in-process tier in front of Redis",
    )


def _finish(rows: list[Row]) -> None:
    """Name each cachekit row's LiteLLM counterpart in its note."""
    by_name = {r.impl: r for r in rows if r.unavailable is None}
    pairs = (
        ("cachekit_litellm.Cache(type='local')", "LiteLLM Cache(type='local')"),
        ("cachekit_litellm.Cache(type='redis')", "LiteLLM Cache(type='redis')"),
        ("cachekit_litellm.Cache(type='redis', l1_ttl=60)", "LiteLLM Cache(type='redis')"),
    )
    for mine, theirs in pairs:
        a, b = by_name.get(mine), by_name.get(theirs)
        if a is None or b is None or a.median is None or b.median is None:
            continue
        delta = (a.median - b.median) / 1000
        a.note = "; ".join(filter(None, [a.note, f"{delta:+.0f} µs vs {theirs} (median)"]))


WORKLOADS = [Workload(NAME, measure=checked(NAME, _build, _finish))]
