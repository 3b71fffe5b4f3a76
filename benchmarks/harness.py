"""Benchmark harness: interleaved rounds, per-round ratios to a floor.

A *workload* is declared in a small module under ``benchmarks/workloads/`` as a
:class:`Workload`. Micro workloads give a ``build(ctx)`` function that registers
implementations with :meth:`Ctx.add`; each implementation is a zero-argument sync
callable or a zero-argument callable returning an awaitable (one operation). The
harness times them all side by side:

* calibration picks a batch size ``N`` per implementation so that one sample (a
  batch of ``N`` operations timed with ``time.perf_counter_ns``) lasts about
  ``sample_ms``; the reported time per operation is the batch time divided by ``N``;
* an untimed warm-up, then ``gc.collect(); gc.freeze()``;
* ``rounds`` rounds, the implementation order rotated every round, ``samples``
  batches per implementation per round;
* median and p99 over all samples, and the ratio to the floor computed per round
  (round median / floor round median) and then reduced with the median.

Workloads that do not fit that mould (import time, memory) give ``measure(settings)``
returning :class:`Row` objects themselves. An implementation whose builder raises
(typically an ``ImportError`` for a missing peer) becomes an ``n/a (reason)`` row.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[], object]
"""One operation: returns a value, or an awaitable for async implementations."""

_UNSET: Any = object()


@dataclass(frozen=True)
class Settings:
    rounds: int = 20
    samples: int = 5
    sample_ms: float = 2.0
    warmup_ms: float = 50.0
    import_rounds: int = 5
    memory_entries: int = 100_000


@dataclass(frozen=True)
class Target:
    """An informational target shown beside the rows it applies to."""

    text: str
    ratio_max: float | None = None
    median_max: float | None = None  # in the row's unit (ns or bytes)

    def met(self, row: Row) -> bool | None:
        if row.unavailable is not None:
            return None
        if self.ratio_max is not None:
            return None if row.ratio is None else row.ratio <= self.ratio_max
        if self.median_max is not None:
            return None if row.median is None else row.median <= self.median_max
        return None


@dataclass
class Row:
    workload: str
    impl: str
    median: float | None = None
    p99: float | None = None
    ratio: float | None = None
    unit: str = "ns"  # "ns" or "bytes"
    floor: bool = False
    target: Target | None = None
    note: str = ""
    unavailable: str | None = None


@dataclass
class Impl:
    name: str
    op: Op | None
    floor: bool = False
    targeted: bool = False
    reference: bool = False
    note: str = ""
    expect: Any = _UNSET
    unavailable: str | None = None
    is_async: bool = False
    batch: int = 1


def short_reason(exc: BaseException, limit: int = 90) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Ctx:
    """What a workload's ``build`` gets: an event loop for async setup, and ``add``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.impls: list[Impl] = []
        self._cleanups: list[Callable[[], object]] = []

    def run(self, aw: Awaitable[Any]) -> Any:
        """Run an awaitable to completion on the workload's loop (for async setup)."""

        async def _wrap() -> Any:
            return await aw

        return self.loop.run_until_complete(_wrap())

    def defer(self, cleanup: Callable[[], object]) -> None:
        """Register a sync callable or a coroutine function to run after timing."""
        self._cleanups.append(cleanup)

    def add(
        self,
        name: str,
        make: Callable[[], Op],
        *,
        floor: bool = False,
        targeted: bool = False,
        reference: bool = False,
        note: str = "",
        expect: Any = _UNSET,
    ) -> None:
        """Register an implementation; ``make()`` does its setup and returns the op.

        If ``make`` raises (a peer that is not installed, a backend that is down), the
        row is reported as unavailable with the reason instead of aborting the run. When
        ``expect`` is given, the op's result is checked during warm-up. The ``floor``
        (one per workload) gives the ratio column; a ``reference`` (a second, like-for-like
        floor) adds each row's ratio to it in the notes.
        """
        try:
            op = make()
        except Exception as exc:
            self.impls.append(
                Impl(
                    name,
                    None,
                    floor=floor,
                    targeted=targeted,
                    reference=reference,
                    unavailable=short_reason(exc),
                )
            )
            return
        self.impls.append(
            Impl(
                name,
                op,
                floor=floor,
                targeted=targeted,
                reference=reference,
                note=note,
                expect=expect,
            )
        )

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            try:
                result = cleanup()
                if inspect.isawaitable(result):
                    self.run(result)
            except Exception as exc:  # cleanup problems must not hide results
                print(f"[bench] cleanup failed: {short_reason(exc)}")


@dataclass(frozen=True)
class Workload:
    name: str
    build: Callable[[Ctx], None] | None = None
    measure: Callable[[Settings], list[Row]] | None = None
    target: Target | None = None
    note: str = ""
    tags: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- timing


async def _abatch(op: Callable[[], Awaitable[object]], n: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await op()
    return time.perf_counter_ns() - t0


def _sbatch(op: Op, n: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        op()
    return time.perf_counter_ns() - t0


def _batch(loop: asyncio.AbstractEventLoop, impl: Impl, n: int) -> int:
    assert impl.op is not None
    if impl.is_async:
        coro: Coroutine[Any, Any, int] = _abatch(impl.op, n)  # type: ignore[arg-type]
        return loop.run_until_complete(coro)
    return _sbatch(impl.op, n)


def _prepare(loop: asyncio.AbstractEventLoop, impl: Impl, settings: Settings) -> None:
    """Detect sync/async, check the result, calibrate the batch size, warm up."""
    assert impl.op is not None
    first = impl.op()
    if inspect.isawaitable(first):
        impl.is_async = True

        async def _await(aw: Awaitable[object]) -> object:
            return await aw

        first = loop.run_until_complete(_await(first))
    if impl.expect is not _UNSET and first != impl.expect:
        raise ValueError(f"wrong result: {first!r:.60}")
    n = 1
    while True:
        t = _batch(loop, impl, n)
        if t >= 1_000_000 or n >= 1 << 22:
            break
        n *= 4 if t < 250_000 else 2
    per_op = max(t / n, 1.0)
    impl.batch = max(1, round(settings.sample_ms * 1e6 / per_op))
    deadline = time.perf_counter_ns() + settings.warmup_ms * 1e6
    while time.perf_counter_ns() < deadline:
        _batch(loop, impl, impl.batch)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median_ratio(values: list[float], floors: list[float]) -> float:
    """Median of the per-round ratios ``values[i] / floors[i]``."""
    return statistics.median(a / b for a, b in zip(values, floors, strict=True))


def run_micro(wl: Workload, settings: Settings) -> list[Row]:
    assert wl.build is not None
    loop = asyncio.new_event_loop()
    ctx = Ctx(loop)
    try:
        wl.build(ctx)
        for impl in ctx.impls:
            if impl.unavailable is None:
                try:
                    _prepare(loop, impl, settings)
                except Exception as exc:
                    impl.unavailable = short_reason(exc)
        live = [i for i in ctx.impls if i.unavailable is None]
        floor = next((i for i in live if i.floor), None)
        reference = next((i for i in live if i.reference), None)

        samples: dict[str, list[float]] = {i.name: [] for i in live}
        round_medians: dict[str, list[float]] = {i.name: [] for i in live}
        gc.collect()
        gc.freeze()
        try:
            for r in range(settings.rounds):
                k = r % len(live) if live else 0
                for impl in live[k:] + live[:k]:
                    s = [
                        _batch(loop, impl, impl.batch) / impl.batch for _ in range(settings.samples)
                    ]
                    samples[impl.name].extend(s)
                    round_medians[impl.name].append(statistics.median(s))
        finally:
            gc.unfreeze()

        rows: list[Row] = []
        for impl in ctx.impls:
            row = Row(
                wl.name,
                impl.name,
                floor=impl.floor,
                target=wl.target if impl.targeted else None,
                note=impl.note,
                unavailable=impl.unavailable,
            )
            if impl.unavailable is None:
                row.median = statistics.median(samples[impl.name])
                row.p99 = percentile(samples[impl.name], 99)
                mine = round_medians[impl.name]
                if floor is not None:
                    row.ratio = median_ratio(mine, round_medians[floor.name])
                if reference is not None and not (impl.floor or impl.reference):
                    ref = median_ratio(mine, round_medians[reference.name])
                    row.note = "; ".join(filter(None, [f"{ref:.2f}x {reference.name}", row.note]))
            rows.append(row)
        return rows
    finally:
        ctx.close()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def run_workload(wl: Workload, settings: Settings) -> list[Row]:
    if wl.measure is not None:
        return wl.measure(settings)
    return run_micro(wl, settings)


# --------------------------------------------------------------------------- output


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MiB"
    if value < 1_000:
        return f"{value:.0f} ns"
    if value < 1_000_000:
        return f"{value / 1e3:.2f} µs" if value < 100_000 else f"{value / 1e3:.0f} µs"
    return f"{value / 1e6:.1f} ms"


def render_table(rows: list[Row]) -> str:
    header = "| workload | implementation | median | p99 | ratio to floor | target | notes |"
    lines = [header, "|---|---|--:|--:|--:|---|---|"]
    for row in rows:
        name = f"**{row.impl}**" if row.target is not None else row.impl
        if row.floor:
            name += " (floor)"
        if row.unavailable is not None:
            cells = [row.workload, name, f"n/a ({row.unavailable})", "", "", "", row.note]
        else:
            ratio = "1.00x" if row.floor else ("—" if row.ratio is None else f"{row.ratio:.2f}x")
            target = ""
            if row.target is not None:
                met = row.target.met(row)
                target = row.target.text + {True: " ✓", False: " ✗", None: ""}[met]
            cells = [
                row.workload,
                name,
                fmt_value(row.median, row.unit),
                fmt_value(row.p99, row.unit),
                ratio,
                target,
                row.note,
            ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
