"""Memory held by N (default 100k) entries of ~1 KB JSON values in in-process caches.

Each implementation fills a fresh cache in its own subprocess. The held memory is what
``tracemalloc`` still traces after the fill and a ``gc.collect()`` (keys and values are
created inside the traced window, as an application would create them); a second
subprocess without tracemalloc gives the RSS growth for the notes. The xfloor column is
held memory / the values' serialised (JSON) size, the floor row.

Child mode (used by the parent): ``python -m benchmarks.workloads.memory IMPL MODE N``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import peers
from benchmarks.harness import Row, Settings, Target, Workload, short_reason

ORDER = 40
NAME = "memory, local backend ({n:,} x ~1 KB)"
TARGET = Target("≤ 1.5x serialised", ratio_max=1.5)
ROOT = Path(__file__).resolve().parents[2]

_FILLER = "".join(chr(ord("a") + (i * 7) % 26) for i in range(780))


def make_value(i: int) -> dict[str, Any]:
    """A ~1 KB chat-completion-like JSON value, distinct per entry."""
    return {
        "id": f"chatcmpl-{i:010d}",
        "object": "chat.completion",
        "created": 1_700_000_000 + i,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"{i}:{_FILLER}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 196, "total_tokens": 227},
    }


def key(i: int) -> str:
    return f"bench:mem:{i:08d}"


Setter = Callable[[str, Any], Awaitable[object]]
Getter = Callable[[str], Awaitable[object]]


async def _open(impl: str, n: int) -> tuple[Setter, Getter, Callable[[], Awaitable[None]]]:
    if impl == "cachekit":
        from cachekit import Cache

        ck = Cache(type="local")

        async def ck_set(k: str, v: Any) -> None:
            await ck.aset(k, v)

        return ck_set, ck.aget, ck.aclose
    if impl == "cashews":
        # the memory backend's default size is 1000 entries (LRU): raise it for the fill
        cc = peers.cashews_cache(f"mem://?size={2 * n}")
        return cc.set, cc.get, cc.close
    if impl == "aiocache":
        ac = peers.aiocache_memory(timeout=None)
        return ac.set, ac.get, ac.close
    if impl == "dict-bytes":
        store: dict[str, bytes] = {}

        async def d_set(k: str, v: Any) -> None:
            store[k] = json.dumps(v).encode()

        async def d_get(k: str) -> object:
            blob = store.get(k)
            return None if blob is None else json.loads(blob)

        async def d_close() -> None:
            return None

        return d_set, d_get, d_close
    raise ValueError(f"unknown impl {impl!r}")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _child(impl: str, mode: str, n: int) -> dict[str, float]:
    set_, get, close = await _open(impl, n)
    # warm-up outside the measurement: lazy imports, first-use structures
    await set_("bench:warmup", make_value(-1))
    await get("bench:warmup")
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
    before = _rss()
    for i in range(n):
        await set_(key(i), make_value(i))
    gc.collect()
    if mode == "tracemalloc":
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    else:
        held = _rss() - before
    step = max(1, n // 1000)
    probes = range(0, n, step)
    found = 0
    for i in probes:
        found += (await get(key(i))) is not None
    await close()
    return {"held": held, "retained": found / len(probes)}


def _spawn(impl: str, mode: str, n: int) -> dict[str, float]:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.workloads.memory", impl, mode, str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        raise RuntimeError(lines[-1])
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


IMPLS: list[tuple[str, str, bool]] = [
    ("cachekit", "cachekit Cache(type='local')", True),
    ("cashews", "cashews mem:// (size raised to fit)", False),
    ("aiocache", "aiocache SimpleMemoryCache", False),
    ("dict-bytes", "dict[str, bytes] of the JSON (reference)", False),
]


def measure(settings: Settings) -> list[Row]:
    n = settings.memory_entries
    name = NAME.format(n=n)
    serialised = sum(len(json.dumps(make_value(i)).encode()) for i in range(n))
    rows = [
        Row(
            name,
            "serialised values (JSON bytes)",
            float(serialised),
            unit="bytes",
            floor=True,
            note=f"{serialised / n:,.0f} B per value",
        )
    ]
    for impl, label, targeted in IMPLS:
        try:
            traced = _spawn(impl, "tracemalloc", n)
            rss = _spawn(impl, "rss", n)
        except Exception as exc:
            rows.append(Row(name, label, unit="bytes", unavailable=short_reason(exc)))
            continue
        note = f"RSS +{rss['held'] / 2**20:,.0f} MiB"
        if traced["retained"] < 1.0:
            note += f"; only {traced['retained']:.0%} of entries retained (evicted)"
        if impl not in ("dict-bytes", "cachekit"):
            note += "; stores the Python object"
        rows.append(
            Row(
                name,
                label,
                traced["held"],
                unit="bytes",
                ratio=traced["held"] / serialised,
                target=TARGET if targeted else None,
                note=note,
            )
        )
    return rows


WORKLOADS = [Workload(NAME.format(n=100_000), measure=measure, target=TARGET)]


if __name__ == "__main__":
    impl_arg, mode_arg, n_arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(_child(impl_arg, mode_arg, n_arg))))
