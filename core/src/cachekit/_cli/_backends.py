"""``cachekit backends``: which backend types are installed, from which
distribution and version, which known ones are installed but failed to load (with
the error), which are not installed, and whether the unrelated PyPI project named
``cachekit`` shares this environment."""

from __future__ import annotations

import argparse
from typing import Any

from cachekit._cli._output import EXIT_OK, Output, table
from cachekit._kernel._manager import (
    PluginFailure,
    foreign_cachekit,
    foreign_cachekit_advice,
    get_plugin_manager,
    plugin_failures,
)
from cachekit._kernel._registry import KNOWN_PACKAGES, backend_registry

__all__ = ["run_backends"]


def run_backends(args: argparse.Namespace, out: Output) -> int:
    pm = get_plugin_manager()
    registry = backend_registry(pm)  # runs the hooks, so hook failures are recorded too
    failures = plugin_failures(pm)
    broken = {f.distribution: f for f in failures if f.distribution}
    missing = sorted((n, p) for n, p in KNOWN_PACKAGES.items() if n not in registry)
    foreign = foreign_cachekit()
    doc: dict[str, Any] = {
        "backends": [
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "plugin": info.plugin,
            }
            for info in sorted(registry.values(), key=lambda i: i.name)
        ],
        "failed_to_load": [_failed(n, broken[p]) for n, p in missing if p in broken],
        "not_installed": [
            {"name": name, "install": f"pip install {package}"}
            for name, package in missing
            if package not in broken
        ],
        "failures": [_failure(f) for f in failures],
        "foreign_cachekit": None
        if foreign is None
        else {
            "version": foreign[0],
            "location": foreign[1],
            "advice": foreign_cachekit_advice(foreign),
        },
    }
    out.result(doc, lambda: _human(doc))
    return EXIT_OK


def _failure(f: PluginFailure) -> dict[str, Any]:
    return {
        "plugin": f.plugin,
        "stage": f.stage,
        "error": f.error,
        "distribution": f.distribution,
        "version": f.version,
    }


def _failed(name: str, f: PluginFailure) -> dict[str, Any]:
    return {
        "name": name,
        "distribution": f.distribution,
        "version": f.version,
        "error": f.error,
        "status": (
            f"installed (distribution {f.distribution} version {f.version}) "
            f"but failed to load: {f.error}"
        ),
    }


def _human(doc: dict[str, Any]) -> str:
    rows = [
        [b["name"], b["distribution"] or "-", b["version"] or "-", b["plugin"]]
        for b in doc["backends"]
    ]
    parts = [table(["type", "distribution", "version", "plugin"], rows)]
    if doc["failed_to_load"]:
        parts.append("\nInstalled but failed to load:")
        parts.append(
            table(["type", "status"], [[m["name"], m["status"]] for m in doc["failed_to_load"]])
        )
    if doc["not_installed"]:
        parts.append("\nNot installed (published by the cachekit project):")
        parts.append(
            table(
                ["type", "install with"], [[m["name"], m["install"]] for m in doc["not_installed"]]
            )
        )
    if doc["failures"]:
        parts.append("\nPlugins that failed to load (skipped):")
        for f in doc["failures"]:
            source = f" from {f['distribution']} {f['version']}" if f["distribution"] else ""
            parts.append(f"  {f['plugin']} ({f['stage']}){source}: {f['error']}")
    if doc["foreign_cachekit"]:
        parts.append(f"\nWarning: {doc['foreign_cachekit']['advice']}")
    return "\n".join(parts)
