"""``cachekit backends``: which backend types are installed, from which
distribution and version, which known ones are not, and which plugins failed."""

from __future__ import annotations

import argparse
from typing import Any

from cachekit._cli._output import EXIT_OK, Output, table
from cachekit._kernel._manager import get_plugin_manager, plugin_failures
from cachekit._kernel._registry import KNOWN_PACKAGES, backend_registry

__all__ = ["run_backends"]


def run_backends(args: argparse.Namespace, out: Output) -> int:
    pm = get_plugin_manager()
    registry = backend_registry(pm)  # runs the hooks, so hook failures are recorded too
    failures = plugin_failures(pm)
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
        "not_installed": [
            {"name": name, "install": f"pip install {package}"}
            for name, package in sorted(KNOWN_PACKAGES.items())
            if name not in registry
        ],
        "failures": [{"plugin": f.plugin, "stage": f.stage, "error": f.error} for f in failures],
    }

    def human() -> str:
        rows = [
            [b["name"], b["distribution"] or "-", b["version"] or "-", b["plugin"]]
            for b in doc["backends"]
        ]
        parts = [table(["type", "distribution", "version", "plugin"], rows)]
        if doc["not_installed"]:
            parts.append("\nNot installed (published by the cachekit project):")
            parts.append(
                table(
                    ["type", "install with"],
                    [[m["name"], m["install"]] for m in doc["not_installed"]],
                )
            )
        if doc["failures"]:
            parts.append("\nPlugins that failed to load (skipped):")
            parts += [f"  {f['plugin']} ({f['stage']}): {f['error']}" for f in doc["failures"]]
        return "\n".join(parts)

    out.result(doc, human)
    return EXIT_OK
