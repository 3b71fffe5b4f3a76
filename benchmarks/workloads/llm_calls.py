"""Wrapped LLM calls answered from the cache, against LiteLLM's own cache hit.

Three workloads (issue 3), each in one run with its floor and LiteLLM:

* **async hit, 1 KB / 20 KB messages**: ``cache.cached("acompletion")(provider)``
  over ``Cache(type="local")``, awaited with the request's keyword arguments, vs
  ``litellm.acompletion(..., mock_response=…, caching=True)`` with
  ``litellm.cache = litellm.Cache(type="local")``. Floor: the key floor plus the read
  a hit cannot avoid, ``sha256(json.dumps(kwargs, sort_keys=True))`` + ``dict`` get +
  ``json.loads`` of the stored response bytes. Targets: ≤ 1.5x the floor and ≥ 100x
  (1 KB) / ≥ 40x (20 KB) faster than LiteLLM (LiteLLM's ratio to the floor / cachekit's, both per-round).
* **sync hit, 1 KB messages**: ``cache.cached("completion")(provider)`` vs
  ``litellm.completion(...)``, same floor. Target: ≥ 20x faster than LiteLLM.

The provider result is a ChatCompletion-shaped dict of ~1 KB; LiteLLM's mock answers
with the same assistant text. Requests have two messages (LiteLLM skips caching above
``max_messages=4``).

Every row is checked twice: its first result during warm-up (``expect=``) and, after
timing, that nothing missed the cache meanwhile: the cachekit provider is switched to
a wrong answer after priming and must never be called again; LiteLLM's timed calls
pass a different ``mock_response`` than the primed one, so a miss would both return
and re-store that text, and a final call must still be a ``cache_hit`` with the
primed text. A row that fails a check is shown as ``n/a``.

Profile cachekit's async hit with
``benchmarks/.venv/bin/python -m benchmarks.workloads.llm_calls [--size 1024] [--calls N]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks import peers
from benchmarks.harness import Ctx, Op, Row, Settings, Target, Workload, fmt_value, run_micro
from benchmarks.workloads.keys import request_kwargs

ORDER = 50

ANSWER = (
    "Caching sits between the application and the provider: the request is turned into a "
    "canonical key, the stored answer is returned when the key is known, and the provider is "
    "called (once) otherwise. A good cache key covers every parameter that can change the "
    "answer, such as the model, the messages, the temperature and the seed, and leaves out "
    "transport details such as timeouts, retries and credentials. Entries carry a lifetime, "
    "so stale answers age out, and a broken cache must never break the call: it degrades to "
    "calling the provider directly."
)

#: A ChatCompletion-shaped response (what ``model_dump()`` of an OpenAI answer gives), ~1 KB.
RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": ANSWER,
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 212,
        "completion_tokens": 96,
        "total_tokens": 308,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_06737a9306",
}

#: What a provider answers once the cache has been primed: seeing it means a miss.
MISSED: dict[str, Any] = {"error": "the provider was called: the cache missed"}
MISSED_TEXT = "MOCK PROVIDER CALLED: the cache missed"

Check = Callable[[], str | None]
"""A post-timing check: ``None`` when fine, else why the row is invalid."""


@dataclass(frozen=True)
class Verdict(Target):
    """A target whose verdict is computed by the workload after timing."""

    ok: bool | None = None

    def met(self, row: Row) -> bool | None:
        return None if row.unavailable is not None else self.ok


class Satisfies:
    """An ``expect=`` value that compares equal to results passing ``test``."""

    def __init__(self, test: Callable[[Any], bool], what: str) -> None:
        self._test = test
        self._what = what

    def __eq__(self, other: object) -> bool:
        try:
            return bool(self._test(other))
        except Exception:
            return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return self._what


class Provider:
    """A trivial provider that counts its calls; ``answer`` is what it returns."""

    def __init__(self, answer: Any = RESPONSE) -> None:
        self.calls = 0
        self.answer = answer

    async def acall(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.answer

    def call(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.answer


def response_bytes() -> bytes:
    return json.dumps(RESPONSE).encode()


def floor_op(kwargs: dict[str, Any]) -> Op:
    """``sha256(json.dumps(kwargs, sort_keys=True))`` + dict get + ``json.loads``."""
    store = {
        hashlib.sha256(json.dumps(kwargs, sort_keys=True).encode()).hexdigest(): response_bytes()
    }
    sha256, dumps, loads = hashlib.sha256, json.dumps, json.loads

    def op() -> Any:
        return loads(store[sha256(dumps(kwargs, sort_keys=True).encode()).hexdigest()])

    return op


def litellm_hit(result: Any) -> bool:
    """A LiteLLM response served from its cache with the primed text."""
    hidden = getattr(result, "_hidden_params", None) or {}
    return bool(hidden.get("cache_hit")) and result.choices[0].message.content == ANSWER


LITELLM_HIT = Satisfies(litellm_hit, "a LiteLLM cache hit with the primed answer")


def _use_litellm_cache(ctx: Ctx) -> Any:
    litellm = peers.module("litellm")
    previous = litellm.cache
    litellm.cache = litellm.Cache(type="local")
    ctx.defer(lambda: setattr(litellm, "cache", previous))
    return litellm


def _provider_check(provider: Provider) -> Check:
    def check() -> str | None:
        extra = provider.calls - 1
        return None if extra == 0 else f"cache missed: provider called {extra} more time(s)"

    return check


# --------------------------------------------------------------------------- builds


def _build_async(size: int) -> Callable[[Ctx, dict[str, Check]], None]:
    def build(ctx: Ctx, checks: dict[str, Check]) -> None:
        kwargs = request_kwargs(size)
        ctx.add(
            "sha256 key + dict get + json.loads",
            lambda: floor_op(kwargs),
            floor=True,
            expect=RESPONSE,
        )

        def cachekit_op() -> Op:
            from cachekit import Cache

            cache = Cache(type="local")
            ctx.defer(cache.aclose)
            provider = Provider()
            wrapped = cache.cached("acompletion")(provider.acall)
            ctx.run(wrapped(**kwargs))  # the miss: stored
            provider.answer = MISSED
            checks["cachekit"] = _provider_check(provider)
            return lambda: wrapped(**kwargs)

        ctx.add("cachekit cached('acompletion') hit", cachekit_op, targeted=True, expect=RESPONSE)

        def litellm_op() -> Op:
            litellm = _use_litellm_cache(ctx)
            acompletion = litellm.acompletion

            async def prime() -> Any:
                first = await acompletion(**kwargs, mock_response=ANSWER, caching=True)
                await asyncio.sleep(0.05)  # let a deferred cache write land
                return first

            ctx.run(prime())
            # LiteLLM's logging worker is a task on this workload's loop: stop it (after
            # flushing) before the harness closes the loop.
            worker = peers.module("litellm.litellm_core_utils.logging_worker")
            ctx.defer(worker.GLOBAL_LOGGING_WORKER.stop)

            async def verify() -> str | None:
                result = await acompletion(**kwargs, mock_response=MISSED_TEXT, caching=True)
                return None if litellm_hit(result) else "cache missed during timing"

            checks["LiteLLM"] = lambda: ctx.run(verify())
            return lambda: acompletion(**kwargs, mock_response=MISSED_TEXT, caching=True)

        ctx.add(
            "LiteLLM acompletion(mock_response=…) hit",
            litellm_op,
            expect=LITELLM_HIT,
            note="litellm.cache = Cache(type='local'), caching=True; returns a ModelResponse "
            "and queues its success logging",
        )

    return build


def _build_sync(size: int) -> Callable[[Ctx, dict[str, Check]], None]:
    def build(ctx: Ctx, checks: dict[str, Check]) -> None:
        kwargs = request_kwargs(size)
        ctx.add(
            "sha256 key + dict get + json.loads",
            lambda: floor_op(kwargs),
            floor=True,
            expect=RESPONSE,
        )

        def cachekit_op() -> Op:
            from cachekit import Cache

            cache = Cache(type="local")
            ctx.defer(cache.close)
            provider = Provider()
            wrapped = cache.cached("completion")(provider.call)
            wrapped(**kwargs)  # the miss: stored
            provider.answer = MISSED
            checks["cachekit"] = _provider_check(provider)
            return lambda: wrapped(**kwargs)

        ctx.add(
            "cachekit cached('completion') hit (sync)",
            cachekit_op,
            targeted=True,
            expect=RESPONSE,
            note="called with no running event loop",
        )

        def litellm_op() -> Op:
            litellm = _use_litellm_cache(ctx)
            completion = litellm.completion
            completion(**kwargs, mock_response=ANSWER, caching=True)

            def verify() -> str | None:
                result = completion(**kwargs, mock_response=MISSED_TEXT, caching=True)
                return None if litellm_hit(result) else "cache missed during timing"

            checks["LiteLLM"] = verify
            return lambda: completion(**kwargs, mock_response=MISSED_TEXT, caching=True)

        ctx.add(
            "LiteLLM completion(mock_response=…) hit",
            litellm_op,
            expect=LITELLM_HIT,
            note="litellm.cache = Cache(type='local'), caching=True; hands its success "
            "logging to a thread pool (which may spill into the next row's timing)",
        )

    return build


# --------------------------------------------------------------------------- measure


def checked(
    name: str,
    build: Callable[[Ctx, dict[str, Check]], None],
    finish: Callable[[list[Row]], None],
) -> Callable[[Settings], list[Row]]:
    """A ``measure`` running ``build`` through the micro harness, then the post-timing
    checks (a failing row becomes ``n/a``), then ``finish`` (targets and notes)."""

    def measure(settings: Settings) -> list[Row]:
        checks: dict[str, Check] = {}
        results: dict[str, str | None] = {}

        def build_and_check(ctx: Ctx) -> None:
            build(ctx, checks)

            def run_checks() -> None:  # deferred: runs after timing, before teardown
                for tag, check in checks.items():
                    try:
                        results[tag] = check()
                    except Exception as exc:
                        results[tag] = f"check failed: {type(exc).__name__}: {exc}"

            ctx.defer(run_checks)

        rows = run_micro(Workload(name, build=build_and_check), settings)
        for row in rows:
            for tag, problem in results.items():
                if problem is not None and row.impl.startswith(tag) and row.unavailable is None:
                    row.unavailable = problem
        finish(rows)
        return rows

    return measure


def _find(rows: list[Row], prefix: str) -> Row | None:
    return next((r for r in rows if r.impl.startswith(prefix) and r.unavailable is None), None)


def _hit_targets(min_speedup: float, max_floor: float | None) -> Callable[[list[Row]], None]:
    parts = ([f"≤ {max_floor:g}x floor"] if max_floor is not None else []) + [
        f"≥ {min_speedup:g}x faster than LiteLLM"
    ]
    text = "; ".join(parts)

    def finish(rows: list[Row]) -> None:
        mine = next(r for r in rows if r.impl.startswith("cachekit"))
        theirs = _find(rows, "LiteLLM")
        if mine.unavailable is not None:
            mine.target = Verdict(text)
            return
        speedup = None
        if theirs is not None and theirs.ratio and mine.ratio:
            speedup = theirs.ratio / mine.ratio
            mine.note = "; ".join(
                filter(None, [f"{speedup:.0f}x faster than LiteLLM (per-round)", mine.note])
            )
        ok: bool | None = None if speedup is None else speedup >= min_speedup
        if max_floor is not None and mine.ratio is not None:
            ok = (ok is not False) and mine.ratio <= max_floor
        mine.target = Verdict(text, ok=ok)
        floor = next((r for r in rows if r.floor and r.unavailable is None), None)
        if floor is not None and floor.median is not None and mine.median is not None:
            mine.note += f"; +{fmt_value(mine.median - floor.median, 'ns')} over the floor"

    return finish


WORKLOADS = [
    *(
        Workload(
            f"LLM call hit, async, {label} messages",
            measure=checked(
                f"LLM call hit, async, {label} messages",
                _build_async(size),
                _hit_targets(speedup, 1.5),
            ),
        )
        # issue 17: >= 100x / >= 40x faster than LiteLLM's hit at 1 KB / 20 KB
        for label, size, speedup in (("1 KB", 1024, 100), ("20 KB", 20 * 1024, 40))
    ),
    Workload(
        "LLM call hit, sync, 1 KB messages",
        measure=checked(
            "LLM call hit, sync, 1 KB messages", _build_sync(1024), _hit_targets(20, None)
        ),
    ),
]


# --------------------------------------------------------------------------- profile


def profile(size: int = 1024, calls: int = 200_000, top: int = 25) -> None:
    """cProfile of cachekit's wrapped async hit (``calls`` hits in one coroutine)."""
    import cProfile
    import pstats
    import time

    from cachekit import Cache

    kwargs = request_kwargs(size)
    cache = Cache(type="local")
    provider = Provider()
    wrapped = cache.cached("acompletion")(provider.acall)

    async def run(n: int) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await wrapped(**kwargs)
        return (time.perf_counter_ns() - t0) / n

    loop = asyncio.new_event_loop()
    loop.run_until_complete(wrapped(**kwargs))
    provider.answer = MISSED
    assert loop.run_until_complete(wrapped(**kwargs)) == RESPONSE
    plain = loop.run_until_complete(run(calls))
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(run(calls))
    profiler.disable()
    assert provider.calls == 1, "the cache missed"
    loop.close()
    print(f"cachekit wrapped async hit, {size} B messages: {plain:.0f} ns/call unprofiled")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=profile.__doc__)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    profile(args.size, args.calls, args.top)
