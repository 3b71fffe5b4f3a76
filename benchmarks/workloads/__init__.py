"""Workload modules. Each module defines ``WORKLOADS: list[Workload]`` (and optionally
``ORDER: int`` to place it in the report); dropping a new module here is enough to
add it to ``bash benchmarks/run.sh``. Modules must not import peers at import time:
do that inside builders so a missing peer becomes an ``n/a`` row.
"""

from __future__ import annotations

import importlib
import pkgutil

from benchmarks.harness import Workload


def discover() -> list[Workload]:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    modules.sort(key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
    workloads: list[Workload] = []
    for module in modules:
        workloads.extend(getattr(module, "WORKLOADS", []))
    return workloads
