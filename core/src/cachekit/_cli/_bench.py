"""``cachekit bench``: get/set latency percentiles and throughput against a backend.

The benchmark works in a namespace of its own (``cachekit-bench-<random>``, or
``--namespace``), so it never reads or overwrites application entries, and clears
that namespace when it ends, interrupted or not. Entries also carry a TTL so a
benchmark killed outright leaves nothing behind for long.

Latencies are measured around ``Cache.aset`` / ``Cache.aget``: what an
application sees, including cachekit's envelope encoding and decoding.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel

from cachekit._cache import Cache
from cachekit._cli._output import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Output,
    Progress,
    format_seconds,
    one_line,
    table,
)
from cachekit._cli._store import open_cache, run_in_loop

__all__ = ["PhaseResult", "run_bench"]

#: Bench entries expire on their own if the final clear never runs (kill -9).
_ENTRY_TTL = 600.0
#: A worker yields to the event loop every so many operations, so Ctrl-C and the
#: progress line get a turn even on an in-process backend that never suspends.
_YIELD_EVERY = 32


@dataclass
class PhaseResult:
    """Latencies (seconds) and failures of one phase."""

    op: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    hits: int = 0
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        values = sorted(self.latencies)
        done = len(values) + sum(self.errors.values())
        doc: dict[str, Any] = {
            "op": self.op,
            "ops": done,
            "ok": len(values),
            "errors": dict(self.errors),
            "wall_s": self.wall_s,
            "ops_per_s": done / self.wall_s if self.wall_s > 0 else None,
        }
        for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
            doc[f"{name}_s"] = _percentile(values, q)
        doc["max_s"] = values[-1] if values else None
        if self.op == "get":
            doc["hits"] = self.hits
        return doc


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _payload(size: int) -> dict[str, Any]:
    """A chat-completion-like value whose JSON form is about ``size`` bytes."""
    base: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
    }
    base["choices"][0]["message"]["content"] = "x" * max(0, size - 200)
    return base


async def _phase(
    cache: Cache,
    op: str,
    total: int,
    concurrency: int,
    progress: Progress,
    value: dict[str, Any],
) -> PhaseResult:
    result = PhaseResult(op)
    cursor = iter(range(total))
    perf = time.perf_counter
    shield = not cache.backend.inline  # an inline operation cannot be cut off anyway

    async def worker() -> None:
        # The shared iterator hands each index to exactly one worker.
        for done, i in enumerate(cursor, 1):
            key = f"bench-{i}"
            # Ctrl-C stops a worker between operations, never inside one: a write cut
            # off mid-way (by a thread the backend abandons, say) could still land
            # after the final clear. Each operation is bounded by the cache's timeout.
            with anyio.CancelScope(shield=shield):
                start = perf()
                try:
                    if op == "set":
                        await cache.aset(key, value, ttl=_ENTRY_TTL)
                    elif await cache.aget(key) is not None:
                        result.hits += 1
                except Exception as exc:  # counted and reported; one slow op is not fatal
                    name = type(exc).__name__
                    result.errors[name] = result.errors.get(name, 0) + 1
                else:
                    result.latencies.append(perf() - start)
            if done % _YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()

    async def ticker() -> None:
        while True:
            finished = len(result.latencies) + sum(result.errors.values())
            progress.show(
                f"bench {op}: {finished}/{total} ({100 * finished // total} %)", force=True
            )
            await anyio.sleep(0.1)

    begin = perf()
    async with anyio.create_task_group() as tg:
        if progress.enabled:
            tg.start_soon(ticker)
        async with anyio.create_task_group() as workers:
            for _ in range(concurrency):
                workers.start_soon(worker)
        tg.cancel_scope.cancel()
    result.wall_s = perf() - begin
    return result


async def _clean_up(cache: Cache, where: str) -> dict[str, Any]:
    """Remove every entry the bench wrote. Not bounded by the per-operation timeout
    (clearing a large namespace takes longer than one operation may): it finishes, or
    says exactly what is left and how to remove it."""
    cleaner = Cache(**{**cache._options, "timeout": None})
    try:
        return {"removed": await cleaner.aclear()}
    except Exception as exc:
        namespace = cache.namespace
        sys.stderr.write(
            f"cachekit: warning: the bench entries of namespace {namespace!r} were not removed "
            f"({one_line(exc)}); remove them with: "
            f"cachekit --url '{where}' clear --namespace {namespace} --yes\n"
        )
        return {"removed": None, "left_in_namespace": namespace, "error": one_line(exc)}
    finally:
        with contextlib.suppress(Exception):
            await cleaner.aclose()


def _validate(args: argparse.Namespace) -> None:
    for name in ("ops", "concurrency"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be at least 1", EXIT_USAGE)
    if args.value_size < 0:
        raise CliError("--value-size must not be negative", EXIT_USAGE)


def run_bench(args: argparse.Namespace, out: Output) -> int:
    _validate(args)
    if getattr(args, "namespace", None) is None:
        args.namespace = f"cachekit-bench-{secrets.token_hex(4)}"
    cache, where = open_cache(args)
    progress = Progress()
    value = _payload(args.value_size)

    async def work() -> list[PhaseResult]:
        # One lookup first: an unreachable backend fails here with one clear error
        # instead of as thousands of counted failures.
        await cache.aget("bench-probe")
        try:
            return [
                await _phase(cache, op, args.ops, args.concurrency, progress, value)
                for op in ("set", "get")
            ]
        finally:
            progress.done()
            with anyio.CancelScope(shield=True):
                cleanup.update(await _clean_up(cache, where))

    cleanup: dict[str, Any] = {}
    try:
        phases = run_in_loop(cache, work)
    finally:
        progress.done()
    doc: dict[str, Any] = {
        "url": where,
        "backend": cache.type,
        "namespace": cache.namespace,
        "concurrency": args.concurrency,
        "ops_per_phase": args.ops,
        "value_size": args.value_size,
        "phases": [p.as_dict() for p in phases],
        "cleanup": cleanup,
    }
    out.result(doc, lambda: _render(doc))
    return EXIT_OK


def _ms(value: float | None) -> str:
    return "-" if value is None else format_seconds(value)


def _render(doc: dict[str, Any]) -> str:
    rows = []
    for p in doc["phases"]:
        errors = sum(p["errors"].values())
        rate = "-" if p["ops_per_s"] is None else f"{p['ops_per_s']:,.0f}"
        rows.append(
            [
                p["op"],
                p["ops"],
                errors,
                rate,
                _ms(p["p50_s"]),
                _ms(p["p90_s"]),
                _ms(p["p99_s"]),
                _ms(p["max_s"]),
            ]
        )
    lines = [
        f"{doc['backend']} at {doc['url']}: {doc['ops_per_phase']} ops per phase, "
        f"concurrency {doc['concurrency']}, ~{doc['value_size']} B values",
        "",
        table(["op", "ops", "errors", "ops/s", "p50", "p90", "p99", "max"], rows),
    ]
    for p in doc["phases"]:
        if p["errors"]:
            detail = ", ".join(f"{n}: {c}" for n, c in sorted(p["errors"].items()))
            lines.append(f"{p['op']} errors: {detail}")
        if p["op"] == "get" and p["hits"] != p["ok"]:
            lines.append(f"note: {p['ok'] - p['hits']} gets missed (entries evicted or expired?)")
    lines.append(
        "(latency includes cachekit's JSON envelope encode/decode, as an application sees it)"
    )
    return "\n".join(lines)
