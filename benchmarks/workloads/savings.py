"""What savings accounting costs the wrapped-call hit path (issue 20).

One workload, ``LLM call hit, savings accounting``: ``cache.cached("acompletion")``
over ``Cache(type="local")`` with the 1 KB request of ``llm_calls``, three rows:

* **response without usage** (the floor): the stored response has no ``usage``, so a
  hit has no tokens or cost to count — only the provider latency saved, which every
  entry written by a miss carries and which cannot be switched off;
* **response with usage**: the same response with its ``usage`` block — tokens saved
  per call type, model and namespace;
* **response with usage, ``pricing=``**: plus the cost, priced per hit from a mapping.

Target (issue 20): the hit path with savings accounting on costs ≤ 1.05x off. The
response bodies differ by the ``usage`` block (~80 bytes of 1 KB), which the floor
does not decode.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Ctx, Op, Target, Workload
from benchmarks.workloads.keys import request_kwargs
from benchmarks.workloads.llm_calls import MISSED, RESPONSE, Provider

ORDER = 53

PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}
WITHOUT_USAGE: dict[str, Any] = {k: v for k, v in RESPONSE.items() if k != "usage"}


def _hit_op(ctx: Ctx, answer: dict[str, Any], **options: Any) -> Op:
    from cachekit import Cache

    cache = Cache(type="local", **options)
    ctx.defer(cache.aclose)
    provider = Provider(answer)
    wrapped = cache.cached("acompletion")(provider.acall)
    kwargs = request_kwargs(1024)
    ctx.run(wrapped(**kwargs))  # the miss: stored with what a hit saves
    provider.answer = MISSED
    return lambda: wrapped(**kwargs)


def build(ctx: Ctx) -> None:
    ctx.add(
        "cachekit hit, response without usage",
        lambda: _hit_op(ctx, WITHOUT_USAGE),
        floor=True,
        expect=WITHOUT_USAGE,
        note="only the provider latency saved is counted",
    )
    ctx.add(
        "cachekit hit, response with usage",
        lambda: _hit_op(ctx, RESPONSE),
        targeted=True,
        expect=RESPONSE,
        note="tokens saved per call type, model and namespace",
    )
    ctx.add(
        "cachekit hit, response with usage, pricing=",
        lambda: _hit_op(ctx, RESPONSE, pricing=PRICES),
        targeted=True,
        expect=RESPONSE,
        note="+ the cost, priced per hit",
    )


WORKLOADS = [
    Workload(
        "LLM call hit, savings accounting, 1 KB messages",
        build=build,
        target=Target("≤ 1.05x without usage", ratio_max=1.05),
    )
]
