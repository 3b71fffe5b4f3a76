"""``import cachekit`` wall time in a fresh interpreter, beside ``import litellm``; and
what registering every installed plugin adds to it.

Each round runs ``python -c pass`` and ``python -c "import X"`` (order rotated) in fresh
subprocesses of the benchmark venv's interpreter; a row's time is its wall time minus
the same round's bare-interpreter time. The xfloor column is the per-round ratio of the
total wall times. One extra ``-X importtime`` run names cachekit's heaviest imports.

The second workload (issue 14's target) runs, with every plugin of the repo installed
in the bench venv, ``import cachekit`` alone (the floor), ``import cachekit;
Cache(type="local")`` (the first cache loads the plugins' entry points) and the
``cachekit backends`` command. Its ratio column is the per-round ratio of the times net
of interpreter start-up (target ≤ 1.5x: registering a plugin imports none of its client
libraries); ``cachekit backends`` is reported as wall time, as a user waits for it
(target ≤ 300 ms).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.harness import Row, Settings, Target, Workload, percentile

ORDER = 30
NAME = "import time (fresh interpreter)"

CASES: list[tuple[str, str, bool]] = [
    ("python -c pass", "pass", True),
    ("import cachekit", "import cachekit; cachekit.Cache", False),
    ("import litellm", "import litellm; litellm.Cache", False),
]
TARGET = Target("≤ 100 ms", median_max=100e6)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


PLUGINS_NAME = "import time, every plugin installed (fresh process)"
LOCAL_CODE = 'import cachekit; cachekit.Cache(type="local")'
RATIO_TARGET = Target("≤ 1.5x import cachekit", ratio_max=1.5)
BACKENDS_TARGET = Target("≤ 300 ms", median_max=300e6)


def _time_run(code: str | list[str], cwd: str) -> int:
    """Wall time (ns) of one fresh process: ``python -c code``, or an argv."""
    argv = [sys.executable, "-c", code] if isinstance(code, str) else code
    t0 = time.perf_counter_ns()
    subprocess.run(
        argv,
        cwd=cwd,
        env=_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter_ns() - t0


def heaviest_imports(module: str, cwd: str, top: int = 3) -> str:
    """The outside modules that ``module``'s own modules import, by cumulative time.

    ``-X importtime`` prints children before their parent, nesting shown by indent: read
    backwards, a line's parent is the last line seen one level up.
    """
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    costs: dict[str, int] = {}
    last_at_depth: dict[int, str] = {}
    for line in reversed(proc.stderr.splitlines()):
        if not line.startswith("import time:") or "[us]" in line:
            continue
        try:
            _, cumulative, field = line.split(":", 1)[1].split("|")
        except ValueError:
            continue
        name = field.strip()
        depth = (len(field) - len(field.lstrip()) - 1) // 2
        last_at_depth[depth] = name
        parent = last_at_depth.get(depth - 1, "")
        own = name == module or name.startswith(module + ".")
        if not own and (parent == module or parent.startswith(module + ".")):
            costs[name] = max(costs.get(name, 0), int(cumulative))
    ranked = sorted(costs.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in ranked)


def measure(settings: Settings) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as cwd:
        live: list[tuple[str, str, bool]] = []
        for name, code, floor in CASES:
            try:  # warm-up: also writes the .pyc files
                _time_run(code, cwd)
                live.append((name, code, floor))
            except subprocess.CalledProcessError:
                reason = "import fails in the bench venv"
                rows.append(Row(NAME, name, unavailable=reason, floor=floor))
        if not any(floor for _, _, floor in live):
            return rows
        totals: dict[str, list[int]] = {name: [] for name, _, _ in live}
        for r in range(settings.import_rounds):
            k = r % len(live)
            for name, code, _ in live[k:] + live[:k]:
                totals[name].append(_time_run(code, cwd))
        floor_name = next(name for name, _, floor in live if floor)
        base = totals[floor_name]
        try:
            heavy = heaviest_imports("cachekit", cwd)
        except subprocess.CalledProcessError:
            heavy = ""
        for name, _, floor in live:
            if floor:
                rows.append(
                    Row(
                        NAME,
                        name,
                        statistics.median(base),
                        percentile([float(t) for t in base], 99),
                        floor=True,
                        note="interpreter start-up (absolute)",
                    )
                )
                continue
            net = [float(t - b) for t, b in zip(totals[name], base, strict=True)]
            ratio = statistics.median(t / b for t, b in zip(totals[name], base, strict=True))
            is_cachekit = "cachekit" in name
            note = "net of start-up"
            if is_cachekit and heavy:
                note += f"; heaviest imports: {heavy}"
            rows.append(
                Row(
                    NAME,
                    name,
                    statistics.median(net),
                    percentile(net, 99),
                    ratio,
                    target=TARGET if is_cachekit else None,
                    note=note,
                )
            )
    order = {name: i for i, (name, _, _) in enumerate(CASES)}
    rows.sort(key=lambda row: order[row.impl])
    return rows


def _cli() -> list[str]:
    """The ``cachekit`` console script of the bench venv (``python -m`` when missing)."""
    script = os.path.join(os.path.dirname(sys.executable), "cachekit")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "cachekit._cli"]


def _plugins() -> str:
    from importlib import metadata

    names = sorted({ep.dist.name for ep in metadata.entry_points(group="cachekit") if ep.dist})
    return ", ".join(names) or "none"


def measure_plugins(settings: Settings) -> list[Row]:
    """Registration cost of the installed plugins (see the module docstring)."""
    cases: list[tuple[str, str | list[str]]] = [
        ("python -c pass", "pass"),
        ("import cachekit", "import cachekit; cachekit.Cache"),
        ("import cachekit; Cache(type='local')", LOCAL_CODE),
        ("cachekit backends", [*_cli(), "backends"]),
    ]
    with tempfile.TemporaryDirectory() as cwd:
        try:
            for _, code in cases:  # warm-up: also writes the .pyc files
                _time_run(code, cwd)
        except subprocess.CalledProcessError as exc:
            reason = f"{exc.cmd[-1]!r} fails in the bench venv"
            return [Row(PLUGINS_NAME, name, unavailable=reason) for name, _ in cases[1:]]
        walls: dict[str, list[int]] = {name: [] for name, _ in cases}
        for r in range(settings.import_rounds):
            k = r % len(cases)
            for name, code in cases[k:] + cases[:k]:
                walls[name].append(_time_run(code, cwd))
    bare = walls["python -c pass"]
    net = {
        name: [float(t - b) for t, b in zip(times, bare, strict=True)]
        for name, times in walls.items()
    }
    floor = net["import cachekit"]

    def net_ratio(name: str) -> float:
        return statistics.median(a / b for a, b in zip(net[name], floor, strict=True))

    def wall_ratio(name: str) -> float:
        pairs = zip(walls[name], walls["import cachekit"], strict=True)
        return statistics.median(a / b for a, b in pairs)

    local = "import cachekit; Cache(type='local')"
    backends = [float(t) for t in walls["cachekit backends"]]
    return [
        Row(
            PLUGINS_NAME,
            "import cachekit",
            statistics.median(floor),
            percentile(floor, 99),
            floor=True,
            note=f"net of start-up; plugins installed: {_plugins()}",
        ),
        Row(
            PLUGINS_NAME,
            local,
            statistics.median(net[local]),
            percentile(net[local], 99),
            net_ratio(local),
            target=RATIO_TARGET,
            note=f"net of start-up; {wall_ratio(local):.2f}x with start-up",
        ),
        Row(
            PLUGINS_NAME,
            "cachekit backends",
            statistics.median(backends),
            percentile(backends, 99),
            net_ratio("cachekit backends"),
            target=BACKENDS_TARGET,
            note="wall time, start-up included (the ratio is net of it)",
        ),
    ]


WORKLOADS = [
    Workload(NAME, measure=measure, target=TARGET),
    Workload(PLUGINS_NAME, measure=measure_plugins, target=RATIO_TARGET),
]
