"""What a wrapped LLM call costs when the cache backend is down (the error path).

The provider is a trivial ``async def`` returning a ~1 KB dict; awaiting it bare is
the floor, so each row's note gives the latency the cache *adds* per call. Every
cachekit row must return the provider's answer (fail-open) and, after timing, must
show no hit and at least one error event in ``cache.stats()``; the provider must have
been called once per wrapped call.

Backends, all with ``timeout=0.05`` (50 ms per backend operation):

* **hangs**: a plugin backend whose operations ``await asyncio.sleep(10)``: the core's
  timeout bounds each one;
* **refuses**: a plugin backend whose operations raise ``ConnectionRefusedError``;
* **redis, closed port**: the real ``cachekit-redis`` plugin pointed at a loopback
  port nothing listens on (connection refused by the kernel).

Two workloads:

* **breaker closed** (the first calls): ``breaker={"threshold": 10**9}`` keeps the
  breaker closed so every timed call is a "first call". A miss makes two backend
  operations (the lookup, then the store of the provider's answer), so with the
  default ``threshold=3`` call 1 pays both, call 2 pays the lookup (the third failure
  opens the breaker, the store is skipped) and call 3 on runs with the breaker open.
  Target: added latency ≤ the configured op timeout (50 ms).
* **breaker open**: ``breaker={"threshold": 3, "cooldown": 5.0}``, opened during setup.
  Target: added latency ≤ 50 µs. Every cooldown (5 s, doubling per failed probe up to
  30 s) one call is let through as a probe and pays the failure again; for the hanging
  backend that is one 50 ms call, which lands in a sample's mean and shows in p99.

Profile the breaker-open path with
``benchmarks/.venv/bin/python -m benchmarks.workloads.llm_backend_down [--calls N]``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks.harness import Ctx, Op, Row, Workload, fmt_value
from benchmarks.workloads.keys import request_kwargs
from benchmarks.workloads.llm_calls import RESPONSE, Check, Provider, Verdict, checked

ORDER = 55

TIMEOUT = 0.05
HELD_CLOSED: Mapping[str, Any] = {"threshold": 10**9}
OPENING: Mapping[str, Any] = {"threshold": 3, "cooldown": 5.0}


def _fault_plugins() -> Any:
    """A fresh plugin manager with the two fault-injecting backend types."""
    import cachekit

    class HangingBackend(cachekit.AsyncBackend):
        async def get(self, key: str) -> bytes | None:
            await asyncio.sleep(10)
            return None

        async def set(self, key: str, value: bytes, ttl: float | None) -> None:
            await asyncio.sleep(10)

        async def delete(self, key: str) -> bool:
            await asyncio.sleep(10)
            return False

        async def clear(self, prefix: str) -> int:
            await asyncio.sleep(10)
            return 0

    class RefusingBackend(cachekit.AsyncBackend):
        async def get(self, key: str) -> bytes | None:
            raise ConnectionRefusedError(111, "Connection refused")

        async def set(self, key: str, value: bytes, ttl: float | None) -> None:
            raise ConnectionRefusedError(111, "Connection refused")

        async def delete(self, key: str) -> bool:
            raise ConnectionRefusedError(111, "Connection refused")

        async def clear(self, prefix: str) -> int:
            raise ConnectionRefusedError(111, "Connection refused")

    class FaultPlugin:
        @cachekit.hookimpl
        def cachekit_register_backends(self, register: Callable[[str, Any], None]) -> None:
            register("bench-hangs", HangingBackend)
            register("bench-refuses", RefusingBackend)

    pm = cachekit.build_plugin_manager(autoload=False)
    pm.register(FaultPlugin())
    return pm


async def close_anyway(cache: Any) -> None:
    """``cache.aclose()``; with the breaker open that raises without closing (it goes
    through the breaker like any backend operation), so close the backend directly."""
    from cachekit import BackendUnavailableError

    try:
        await cache.aclose()
    except BackendUnavailableError:
        await cache.backend.aclose()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _build(breaker: Mapping[str, Any], opened: bool) -> Callable[[Ctx, dict[str, Check]], None]:
    def build(ctx: Ctx, checks: dict[str, Check]) -> None:
        kwargs = request_kwargs(1024)
        bare = Provider()
        ctx.add(
            "bare provider call", lambda: lambda: bare.acall(**kwargs), floor=True, expect=RESPONSE
        )
        pm: list[Any] = []

        def cachekit_op(tag: str, make_cache: Callable[[], Any]) -> Callable[[], Op]:
            def make() -> Op:
                cache = make_cache()
                ctx.defer(lambda: close_anyway(cache))
                provider = Provider()
                wrapped = cache.cached("acompletion")(provider.acall)
                calls = [0]

                async def op() -> Any:
                    calls[0] += 1
                    return await wrapped(**kwargs)

                if opened:  # three failed calls open the breaker (threshold 3)
                    for _ in range(3):
                        ctx.run(op())
                    if not cache._engine.breaker.is_open:
                        raise RuntimeError("the breaker did not open")

                def check() -> str | None:
                    stats = cache.stats()
                    if stats.hits:
                        return f"{stats.hits} unexpected hit(s)"
                    if not stats.errors:
                        return "no error event: the backend was not down"
                    if provider.calls != calls[0]:
                        return f"provider called {provider.calls} times for {calls[0]} calls"
                    return None

                checks[tag] = check
                return op

            return make

        def fault_cache(type_name: str) -> Callable[[], Any]:
            def make() -> Any:
                from cachekit import Cache

                if not pm:
                    pm.append(_fault_plugins())
                return Cache(type=type_name, plugins=pm[0], timeout=TIMEOUT, breaker=breaker)

            return make

        def redis_cache() -> Any:
            from cachekit import Cache

            return Cache(
                type="redis",
                host="127.0.0.1",
                port=_closed_port(),
                timeout=TIMEOUT,
                breaker=breaker,
            )

        state = "breaker open" if opened else "breaker closed"
        ctx.add(
            f"cachekit, backend hangs ({state})",
            cachekit_op("cachekit, backend hangs", fault_cache("bench-hangs")),
            targeted=True,
            expect=RESPONSE,
            note="get/set await asyncio.sleep(10); the 50 ms timeout bounds each",
        )
        ctx.add(
            f"cachekit, backend refuses ({state})",
            cachekit_op("cachekit, backend refuses", fault_cache("bench-refuses")),
            targeted=True,
            expect=RESPONSE,
            note="get/set raise ConnectionRefusedError",
        )
        ctx.add(
            f"cachekit, redis on a closed port ({state})",
            cachekit_op("cachekit, redis", redis_cache),
            targeted=True,
            expect=RESPONSE,
            note="cachekit-redis → 127.0.0.1:<closed port>",
        )

    return build


def _added_targets(limit_ns: float, text: str) -> Callable[[list[Row]], None]:
    def finish(rows: list[Row]) -> None:
        floor = next((r for r in rows if r.floor and r.unavailable is None), None)
        for row in rows:
            if not row.impl.startswith("cachekit"):
                continue
            ok: bool | None = None
            if floor is not None and floor.median is not None and row.median is not None:
                added = row.median - floor.median
                ok = added <= limit_ns
                note = f"+{fmt_value(added, 'ns')} over the bare provider"
                row.note = "; ".join(filter(None, [note, row.note]))
            row.target = Verdict(text, ok=ok)

    return finish


WORKLOADS = [
    Workload(
        "LLM call, backend down, breaker closed (first calls)",
        measure=checked(
            "LLM call, backend down, breaker closed (first calls)",
            _build(HELD_CLOSED, opened=False),
            _added_targets(TIMEOUT * 1e9, "≤ 50 ms (the op timeout) added"),
        ),
    ),
    Workload(
        "LLM call, backend down, breaker open",
        measure=checked(
            "LLM call, backend down, breaker open",
            _build(OPENING, opened=True),
            _added_targets(50_000, "≤ 50 µs added"),
        ),
    ),
]


# --------------------------------------------------------------------------- profile


def profile(calls: int = 50_000, top: int = 25) -> None:
    """cProfile of a wrapped call with the breaker open (backend refusing connections)."""
    import cProfile
    import pstats
    import time

    from cachekit import Cache

    kwargs = request_kwargs(1024)
    cache = Cache(type="bench-refuses", plugins=_fault_plugins(), timeout=TIMEOUT, breaker=OPENING)
    provider = Provider()
    wrapped = cache.cached("acompletion")(provider.acall)

    async def run(n: int) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await wrapped(**kwargs)
        return (time.perf_counter_ns() - t0) / n

    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(3))
    assert cache._engine.breaker.is_open, "the breaker did not open"
    plain = loop.run_until_complete(run(calls))
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(run(calls))
    profiler.disable()
    loop.close()
    print(f"cachekit wrapped call, breaker open: {plain:.0f} ns/call unprofiled")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=profile.__doc__)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    profile(args.calls, args.top)
