"""Stale-while-revalidate on the wrapped-call hit path (issue 18).

One workload, ``LLM call hit, stale features``: ``cache.cached("acompletion")`` over
``Cache(type="local")`` with the 1 KB request of ``llm_calls``, three rows:

* **fresh hit, stale features off** (the floor): today's hit path, no window set;
* **fresh hit, windows set**: ``Cache(stale_while_revalidate=600, stale_if_error=600)``,
  the entry within its TTL — what the features cost a hit that does not use them;
* **stale hit (refresh in flight)**: the entry past its TTL, inside the window, while
  its one background refresh runs (the provider's refresh never returns during the
  run, so every timed call is a stale hit that finds the refresh already running —
  the steady state of a stale key). Target: ≤ 1.2x the fresh hit.

"Costs nothing measurable" against ``main`` is a comparison across trees: run the
floor row with this tree's ``cachekit`` and with another's first on ``PYTHONPATH``::

    .venv/bin/python -m benchmarks "stale features"
    PYTHONPATH=/work/main/core/src .venv/bin/python -m benchmarks "stale features"

(on a tree without the feature the two other rows are ``n/a``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.harness import Ctx, Op, Target, Workload
from benchmarks.workloads.keys import request_kwargs
from benchmarks.workloads.llm_calls import MISSED, RESPONSE, Provider

ORDER = 52

TTL = 60.0
WINDOW = 600.0


class _Clock:
    """A clock the workload moves (past the TTL) without sleeping."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


class _StallingProvider(Provider):
    """Answers the priming miss; every later call (the refresh) waits until teardown."""

    def __init__(self) -> None:
        super().__init__()
        self.release: asyncio.Event | None = None

    async def acall(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            return self.answer
        self.release = self.release or asyncio.Event()
        await self.release.wait()
        return MISSED


def _hit_op(ctx: Ctx, *, stale: bool, windows: bool) -> Op:
    from cachekit import Cache

    clock = _Clock()
    options: dict[str, Any] = {"ttl": TTL, "clock": clock}
    if windows:
        options.update(stale_while_revalidate=WINDOW, stale_if_error=WINDOW)
    cache = Cache(type="local", **options)
    ctx.defer(cache.aclose)
    provider = _StallingProvider()
    wrapped = cache.cached("acompletion")(provider.acall)
    kwargs = request_kwargs(1024)
    ctx.run(wrapped(**kwargs))  # the miss: stored
    if stale:
        clock.now += TTL + 1
        ctx.run(wrapped(**kwargs))  # the first stale hit starts the (stalling) refresh

        async def check() -> None:
            await asyncio.sleep(0)  # let the refresh task start
            stats = cache.stats()
            if provider.calls != 2 or stats.refreshes or stats.stale_hits != 1:
                raise RuntimeError("the stale hit did not start exactly one refresh")

        ctx.run(check())
    else:
        provider.answer = MISSED
    return lambda: wrapped(**kwargs)


def build(ctx: Ctx) -> None:
    ctx.add(
        "cachekit fresh hit, stale features off",
        lambda: _hit_op(ctx, stale=False, windows=False),
        floor=True,
        expect=RESPONSE,
    )
    ctx.add(
        "cachekit fresh hit, stale windows set",
        lambda: _hit_op(ctx, stale=False, windows=True),
        expect=RESPONSE,
    )
    ctx.add(
        "cachekit stale hit (refresh in flight)",
        lambda: _hit_op(ctx, stale=True, windows=True),
        targeted=True,
        expect=RESPONSE,
        note="stale-while-revalidate: served at once; its one refresh is still running",
    )


WORKLOADS = [
    Workload(
        "LLM call hit, stale features, 1 KB messages",
        build=build,
        target=Target("≤ 1.2x the fresh hit", ratio_max=1.2),
    )
]
