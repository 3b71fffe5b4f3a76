"""Before/after figures for issue 15, items 1, 5, 8 and 11 (not part of the timed suite).

    .venv/bin/python -m benchmarks.reliability      # or: python benchmarks/reliability.py

Every scenario runs against real parts, started here and stopped at the end: a
``redis-server`` on a free loopback port (``cachekit_redis.testing.RedisServer``,
SIGKILLed or SIGSTOPped for outages), moto's S3 server mode
(``cachekit_s3.testing.MotoServer``), the real filesystem with writer processes
SIGKILLed mid-write (``plugins/disk/tests/leftovers.py``), and the real ``AsyncOpenAI``
SDK, wrapped by ``cachekit_openai.wrap``, against ``cachekit.testing.OpenAIServer``,
which counts the provider requests the cache did not answer. Caches use their defaults
(1 s operation timeout; breaker: 3 failures, 2 s cool-down doubling up to 30 s) and the
real clock. The "before" column is the figure in the issue's text. Prints one markdown
table; takes about a minute.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap
from cachekit_redis.testing import RedisServer
from cachekit_s3.testing import MotoServer
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parent.parent
LEFTOVERS = ROOT / "plugins" / "disk" / "tests" / "leftovers.py"
MODEL = "gpt-4o-mini"
CALLER_DEADLINE = 0.3  # the callers' own deadline in item 1 (anyio.fail_after / wait_for)
HUNG_WINDOW = 8.0  # seconds of calls against a hung Redis (the 8 s)
HEALTHY_OPS = 60  # operations counted after the cancelled probe, one every 0.1 s
WAITERS = 500
DISK_KILLS = 40
DISK_CAP = 1_000_000


@dataclass(frozen=True)
class Row:
    item: str
    scenario: str
    before: str
    now: str


Ask = Callable[[str], Coroutine[Any, Any, Any]]


# -- shared parts ----------------------------------------------------------------------------


@asynccontextmanager
async def cached_sdk(server: OpenAIServer, cache: Cache) -> AsyncIterator[Ask]:
    """``ask(prompt)``: one chat completion through the real SDK (no retries, so one
    provider call is one request at the server), wrapped by ``cache``."""
    sdk = AsyncOpenAI(base_url=server.base_url, api_key="sk-reliability", max_retries=0)
    client = wrap(sdk, cache=cache)

    async def ask(prompt: str) -> Any:
        messages: Any = [{"role": "user", "content": prompt}]
        return await client.chat.completions.create(model=MODEL, messages=messages)

    try:
        yield ask
    finally:
        await client.close()


def breaker_of(cache: Cache) -> Any:
    """The cache's circuit breaker (private: read only, to say when it opened)."""
    return cache._engine.breaker


async def wait_for_probe(cache: Cache) -> None:
    """Sleep until the open breaker lets a probe through."""
    while breaker_of(cache).blocked():  # noqa: ASYNC110 - the breaker has no event to wait on
        await anyio.sleep(0.02)


def say(message: str) -> None:
    print(f"[reliability] {message}", file=sys.stderr, flush=True)


# -- item 1: a cancelled half-open probe -------------------------------------------------------


async def _open_on_a_hung_server(ask: Ask, redis: RedisServer, cache: Cache) -> None:
    redis.pause()
    while not breaker_of(cache).is_open:  # each read times out after 1 s
        await ask("held")


async def _count_after_health(ask: Ask, cache: Cache) -> tuple[int, int, float | None]:
    """HEALTHY_OPS calls (the held prompt and new ones, alternately), 0.1 s apart:
    hits, stores, and when the first hit came (seconds after the server was back)."""
    before, back, first_hit = cache.stats(), time.monotonic(), None
    for i in range(HEALTHY_OPS):
        hits = cache.stats().hits
        await ask("held" if i % 2 == 0 else f"new {i}")
        if first_hit is None and cache.stats().hits > hits:
            first_hit = time.monotonic() - back
        await anyio.sleep(0.1)
    after = cache.stats()
    return after.hits - before.hits, after.stores - before.stores, first_hit


async def cancelled_probe(openai: OpenAIServer) -> Row:
    with RedisServer() as redis:
        async with (
            Cache.from_url(redis.url) as cache,
            cached_sdk(openai, cache) as ask,
        ):
            await ask("held")  # stored
            await _open_on_a_hung_server(ask, redis, cache)
            await wait_for_probe(cache)
            with anyio.move_on_after(CALLER_DEADLINE) as scope:  # the probe's caller gives up
                await ask("held")
            redis.resume()
            hits, stores, first = await _count_after_health(ask, cache)
    assert scope.cancelled_caught, "the probe was not cut short by its caller"
    back = "never" if first is None else f"{first:.1f} s after the server was back"
    return Row(
        "1",
        "cancelled half-open probe (Redis SIGSTOPped, probe's caller cancelled at 0.3 s, "
        f"SIGCONT), then {HEALTHY_OPS} wrapped calls 0.1 s apart",
        "0 hits, 0 stores, forever",
        f"{hits} hits, {stores} stores; first hit {back}",
    )


@dataclass
class HungTally:
    calls: int = 0
    deadline: int = 0
    raised: int = 0
    opened_at: int | None = None
    slowest_ok: float = 0.0


Deadline = Callable[[Coroutine[Any, Any, Any]], Coroutine[Any, Any, bool]]


async def under_anyio(call: Coroutine[Any, Any, Any]) -> bool:
    """``call`` under ``anyio.move_on_after(0.3)``; whether the deadline cut it short."""
    with anyio.move_on_after(CALLER_DEADLINE) as scope:
        await call
    return scope.cancelled_caught


async def under_wait_for(call: Coroutine[Any, Any, Any]) -> bool:
    """``call`` under ``asyncio.wait_for(…, 0.3)``; whether the deadline cut it short."""
    try:
        await asyncio.wait_for(call, CALLER_DEADLINE)
    except TimeoutError:  # a wrapped call is fail-open: this is the caller's own deadline
        return True
    return False


DEADLINES: dict[str, Deadline] = {
    "`anyio.move_on_after(0.3)`": under_anyio,
    "`asyncio.wait_for(…, 0.3)`": under_wait_for,
}


async def _one_call(ask: Ask, deadline: Deadline, tally: HungTally) -> None:
    started = time.monotonic()
    try:
        cut_short = await deadline(ask(f"hung {tally.calls}"))
    except Exception:  # a wrapped call must never raise: fail-open
        tally.raised += 1
        return
    if cut_short:
        tally.deadline += 1
    else:
        tally.slowest_ok = max(tally.slowest_ok, time.monotonic() - started)


async def _calls_on_a_hung_server(ask: Ask, cache: Cache, deadline: Deadline) -> HungTally:
    tally = HungTally()
    end = time.monotonic() + HUNG_WINDOW
    while time.monotonic() < end:
        tally.calls += 1
        await _one_call(ask, deadline, tally)
        if tally.opened_at is None and breaker_of(cache).is_open:
            tally.opened_at = tally.calls
    return tally


async def hung_backend(openai: OpenAIServer, style: str) -> Row:
    with RedisServer() as redis:
        async with (
            Cache.from_url(redis.url) as cache,
            cached_sdk(openai, cache) as ask,
        ):
            await ask("warm")  # a pooled connection, as in a running service
            redis.pause()
            try:
                tally = await _calls_on_a_hung_server(ask, cache, DEADLINES[style])
            finally:
                redis.resume()
    opened = "never" if tally.opened_at is None else f"after call {tally.opened_at}"
    return Row(
        "1",
        f"hung Redis (SIGSTOP), sequential wrapped calls for {HUNG_WINDOW:g} s, each under "
        f"the caller's {style}; default 1 s timeout",
        "27/27 calls failed (deadline); breaker never opened",
        f"{tally.deadline}/{tally.calls} hit the deadline, {tally.raised} raised; breaker "
        f"opened {opened}; slowest other call {tally.slowest_ok * 1000:.0f} ms",
    )


# -- item 5: an open breaker keeps the L1 and single-flight -------------------------------------


async def _open_on_a_dead_server(ask: Ask, redis: RedisServer, cache: Cache) -> int:
    redis.kill()
    calls = 0
    while not breaker_of(cache).is_open:
        calls += 1
        await ask(f"other {calls}")
    return calls


async def open_breaker_l1(openai: OpenAIServer) -> list[Row]:
    with RedisServer() as redis:
        async with (
            Cache.from_url(redis.url, l1_ttl=60.0) as cache,
            cached_sdk(openai, cache) as ask,
        ):
            await ask("held in L1")
            await _open_on_a_dead_server(ask, redis, cache)
            before = openai.count("/chat/completions")
            await ask("held in L1")
            held = openai.count("/chat/completions") - before
            before = openai.count("/chat/completions")
            async with anyio.create_task_group() as tg:
                for _ in range(WAITERS):
                    tg.start_soon(ask, "500 at once")
            burst = openai.count("/chat/completions") - before
            still_open = breaker_of(cache).is_open
    where = "breaker open (Redis SIGKILLed), `l1_ttl=60`"
    return [
        Row("5", f"{where}: a prompt held in the L1", "1 provider call", f"{held} provider calls"),
        Row(
            "5",
            f"{where}: {WAITERS} identical concurrent wrapped calls",
            "500 provider calls",
            f"{burst} provider call(s) (breaker still open: {still_open})",
        ),
    ]


# -- item 8: S3 cold start, and waiters when the provider raises --------------------------------

COLD_PROCESS = """
import asyncio, json, sys, time
t0 = time.monotonic()
from cachekit import Cache, BackendTimeoutError
cache = Cache(type="s3", **json.loads(sys.argv[1]))
built = time.monotonic() - t0

async def op(name, call):
    started = time.monotonic()
    try:
        await call()
        outcome = "ok"
    except BackendTimeoutError:
        outcome = "BackendTimeoutError"
    except Exception as exc:
        outcome = type(exc).__name__
    return [name, round(time.monotonic() - started, 3), outcome]

async def main():
    ops = [
        await op("aget", lambda: cache.aget("cold")),
        await op("aset", lambda: cache.aset("cold", {"v": 1})),
        await op("aget", lambda: cache.aget("cold")),
    ]
    failures = cache._engine.breaker._failures
    errors = cache.stats().errors
    await cache.aclose()
    return {"built": round(built, 3), "ops": ops, "breaker_failures": failures, "errors": errors}

print(json.dumps(asyncio.run(main())))
"""


@contextmanager
def busy_cpus(n: int) -> Iterator[None]:
    """``n`` processes spinning on the CPU for the duration (a busy machine)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()


def cold_start(moto: MotoServer, bucket: str, path: str) -> dict[str, Any]:
    options = moto.options(bucket, s3_path=path)
    done = subprocess.run(
        [sys.executable, "-c", COLD_PROCESS, json.dumps(options)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def cold_row(label: str, before: str, report: dict[str, Any]) -> Row:
    ops = ", ".join(f"{name} {secs:.2f} s {outcome}" for name, secs, outcome in report["ops"])
    return Row(
        "8",
        f"S3 cold start in a fresh process ({label}): first `aget`, `aset`, `aget`",
        before,
        f"{ops}; breaker failures {report['breaker_failures']}, errors {report['errors']} "
        f"(import + `Cache()` {report['built']:.2f} s)",
    )


def s3_cold_starts(moto: MotoServer, bucket: str) -> list[Row]:
    idle = cold_start(moto, bucket, "cold/idle")
    with busy_cpus(os.cpu_count() or 2):
        busy = cold_start(moto, bucket, "cold/busy")
    first_ops_failed = "first ops raised `BackendTimeoutError`, counted by the breaker"
    return [
        cold_row("idle machine", f"~1 s; {first_ops_failed}", idle),
        cold_row(
            f"{os.cpu_count()} CPU spinners", f"5.8 s (busy machine); {first_ops_failed}", busy
        ),
    ]


async def _waiter(ask: Ask, outcomes: list[str]) -> None:
    try:
        await ask("the provider fails")
        outcomes.append("ok")
    except Exception as exc:
        outcomes.append(type(exc).__name__)


async def s3_waiters(openai: OpenAIServer, moto: MotoServer, bucket: str) -> Row:
    async with (
        Cache(type="s3", **moto.options(bucket, s3_path="waiters")) as cache,
        cached_sdk(openai, cache) as ask,
    ):
        openai.fail_next(500, times=10 * WAITERS)
        before = openai.count("/chat/completions")
        outcomes: list[str] = []
        async with anyio.create_task_group() as tg:
            for _ in range(WAITERS):
                tg.start_soon(_waiter, ask, outcomes)
        calls = openai.count("/chat/completions") - before
        openai.reset()  # drops the unused faults
        errors, opened = cache.stats().errors, breaker_of(cache).is_open
    kinds = ", ".join(f"{outcomes.count(k)} {k}" for k in sorted(set(outcomes)))
    return Row(
        "8",
        f"S3 (fresh `Cache`), provider answering HTTP 500: {WAITERS} identical concurrent "
        "wrapped calls",
        "86 provider calls",
        f"{calls} provider call(s); callers got: {kinds}; cache errors {errors}, "
        f"breaker open: {opened}",
    )


# -- item 11: disk writers SIGKILLed mid-write ----------------------------------------------------


def leftovers_module() -> ModuleType:
    """``plugins/disk/tests/leftovers.py``: its write storms and its file census."""
    spec = importlib.util.spec_from_file_location("_cachekit_disk_leftovers", LEFTOVERS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _census_text(counts: dict[str, int]) -> str:
    return (
        f"{counts['other']} leftover files, {counts['other_bytes'] / 1e6:.2f} MB beside "
        f"{counts['entries']} entries, {counts['entry_bytes'] / 1e6:.2f} MB"
    )


def disk_kills(cap: int | None) -> Row:
    tool = leftovers_module()
    directory = tempfile.mkdtemp(prefix="cachekit-reliability-")
    try:
        root = Path(directory) / "disk-v1"
        for _ in range(DISK_KILLS):  # values of 20-80 KB over 20 keys
            tool.storm_and_kill(directory, 20_000, 50, cap)
        killed: dict[str, int] = tool.census(root)
        writer = tool.run("write", directory, 99, 1, 1, 100, *([cap] if cap else []))
        writer.communicate(timeout=120)
        later: dict[str, int] = tool.census(root)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return disk_row(cap, killed, later)


def disk_row(cap: int | None, killed: dict[str, int], later: dict[str, int]) -> Row:
    now = f"after the kills: {_census_text(killed)}; after one write by a new process: "
    now += _census_text(later)
    if cap is not None:
        worst = max(c["entry_bytes"] + c["other_bytes"] for c in (killed, later))
        now += f"; all files {worst / 1e6:.2f} MB vs cap {cap / 1e6:.2f} MB"
        now += " (holds)" if worst <= cap else " (EXCEEDED)"
    return Row(
        "11",
        f"disk: {DISK_KILLS} writer processes SIGKILLed mid-write (50 writes each), "
        + ("no cap (default)" if cap is None else f"`max_size_bytes={cap:_}`"),
        "1,963 leftover files, 139 MB beside 20 MB live; outside the cap; no pruning by default",
        now,
    )


# -- the run --------------------------------------------------------------------------------------


async def redis_rows(openai: OpenAIServer) -> list[Row]:
    say("item 1: cancelled probe")
    rows = [await cancelled_probe(openai)]
    for style in DEADLINES:
        say(f"item 1: hung backend, {style}")
        rows.append(await hung_backend(openai, style))
    say("item 5: open breaker, L1 and single-flight")
    rows += await open_breaker_l1(openai)
    return rows


def s3_rows(openai: OpenAIServer) -> list[Row]:
    with MotoServer() as moto:
        bucket = "cachekit-reliability"
        moto.create_bucket(bucket)
        say("item 8: S3 cold starts")
        rows = s3_cold_starts(moto, bucket)
        say("item 8: S3 waiters")
        rows.append(asyncio.run(s3_waiters(openai, moto, bucket)))
    return rows


def render(rows: list[Row]) -> str:
    lines = ["| item | scenario | issue's figure (before) | measured now |", "|---|---|---|---|"]
    lines += [f"| {r.item} | {r.scenario} | {r.before} | {r.now} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    with OpenAIServer() as openai:
        rows = asyncio.run(redis_rows(openai))
        rows += s3_rows(openai)
    say("item 11: disk writer kills")
    rows += [disk_kills(None), disk_kills(DISK_CAP)]
    print(render(rows))
    say(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
