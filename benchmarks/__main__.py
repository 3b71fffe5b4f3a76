"""Run the benchmark suite: ``python -m benchmarks [FILTER ...]`` (from the repo root).

Prefer ``bash benchmarks/run.sh``, which prepares the venv first.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# The observer plugins are installed in the bench venv for their own workload
# (workloads/observers.py, which registers them explicitly); every other row measures
# cachekit as a user without them gets it: off in subprocesses, and left out of this
# process's plugin manager (see _without_observer_plugins).
os.environ.setdefault("CACHEKIT_PROMETHEUS_DISABLED", "1")
os.environ.setdefault("CACHEKIT_OTEL_DISABLED", "1")

import argparse
import datetime as dt
import importlib.metadata
import platform
import sys
import time
from pathlib import Path

from benchmarks.harness import Row, Settings, render_table, run_workload
from benchmarks.workloads import discover

PACKAGES = ["cachekit-core", "litellm", "aiocache", "cashews", "diskcache", "redis", "aioboto3"]
PACKAGES += ["prometheus-client", "opentelemetry-sdk"]
OBSERVER_PLUGINS = ("prometheus", "otel")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"


def _without_observer_plugins() -> None:
    try:
        import cachekit
    except ImportError:  # the cachekit rows are n/a anyway
        return
    pm = cachekit.get_plugin_manager()
    for name in OBSERVER_PLUGINS:
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)


def versions() -> str:
    parts = []
    for name in PACKAGES:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "filters", nargs="*", help="run only workloads whose name contains one of these"
    )
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--samples", type=int, default=Settings.samples, help="per round")
    parser.add_argument("--sample-ms", type=float, default=Settings.sample_ms)
    parser.add_argument("--import-rounds", type=int, default=Settings.import_rounds)
    parser.add_argument("--memory-entries", type=int, default=Settings.memory_entries)
    parser.add_argument("--list", action="store_true", help="list workloads and exit")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    settings = Settings(
        rounds=args.rounds,
        samples=args.samples,
        sample_ms=args.sample_ms,
        import_rounds=args.import_rounds,
        memory_entries=args.memory_entries,
    )

    workloads = discover()
    _without_observer_plugins()
    if args.filters:
        wanted = [f.lower() for f in args.filters]
        workloads = [w for w in workloads if any(f in w.name.lower() for f in wanted)]
    if args.list or not workloads:
        for w in discover():
            print(w.name)
        return 0 if args.list else 2

    rows: list[Row] = []
    started = time.monotonic()
    for wl in workloads:
        t0 = time.monotonic()
        print(f"[bench] {wl.name} …", file=sys.stderr, flush=True)
        rows.extend(run_workload(wl, settings))
        print(f"[bench]   done in {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)

    table = render_table(rows)
    header = "\n".join(
        [
            "# cachekit benchmarks",
            "",
            f"- run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, "
            f"{time.monotonic() - started:.0f} s, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}",
            f"- versions: {versions()}",
            f"- method: {settings.rounds} rounds x {settings.samples} samples of ~"
            f"{settings.sample_ms:g} ms batches, order rotated per round, untimed warm-up, "
            "gc.freeze() after setup; ratio to floor = median of per-round ratios; p99 is over "
            "batch samples (per-op mean within a batch); import: "
            f"{settings.import_rounds} rounds; bold rows are cachekit (targets apply).",
            "",
        ]
    )
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + "\n" + table + "\n")
    print(f"\n[bench] written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
