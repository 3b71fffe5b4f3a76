"""The backend and embedder registries, read from the registration hooks.

Registration hooks are called through pluggy (``pm.hook.<name>``, one plugin at a
time through a subset caller, so an implementation may take a subset of the
arguments and one raising plugin is reported and skipped instead of hiding every
other one). The first plugin to claim a name keeps it.

A factory is a callable, or a ``"module:attribute"`` string that is imported only
when a cache of that type is first built — so registering a plugin imports none of
its client libraries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import pluggy

from cachekit._kernel._manager import distribution_of, plugin_failures, record_failure
from cachekit.exceptions import PluginError, UnknownBackendError

__all__ = [
    "KNOWN_PACKAGES",
    "BackendInfo",
    "backend_registry",
    "embedder_registry",
    "resolve_backend",
]

#: Backend types published by the cachekit project, for the "pip install" hint.
KNOWN_PACKAGES = {
    "local": "cachekit-core",
    "local-semantic": "cachekit-core",
    "redis": "cachekit-redis",
    "redis-semantic": "cachekit-redis",
    "s3": "cachekit-s3",
    "disk": "cachekit-disk",
    "qdrant-semantic": "cachekit-qdrant",
}

Factory = Callable[..., Any] | str


@dataclass(frozen=True)
class BackendInfo:
    """One registered backend (or embedder) type and where it comes from."""

    name: str
    target: Factory
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def factory(self) -> Callable[..., Any]:
        """The factory, imported now if it was registered as ``"module:attribute"``."""
        target = self.target
        if not isinstance(target, str):
            return target
        module_name, _, attribute = target.partition(":")
        found: Any = import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
        if not callable(found):
            raise PluginError(f"{self.plugin}: {target!r} is not callable")
        return found  # type: ignore[no-any-return]


def _collect(pm: pluggy.PluginManager, hook_name: str) -> dict[str, BackendInfo]:
    found: dict[str, BackendInfo] = {}
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    plugins = [impl.plugin for impl in impls]
    for impl in impls:  # registration order: the first to claim a name keeps it
        name_of_plugin = impl.plugin_name
        dist = distribution_of(pm, name_of_plugin)
        batch: dict[str, BackendInfo] = {}

        def register(
            name: str,
            factory: Factory,
            _batch: dict[str, BackendInfo] = batch,
            _plugin: str = name_of_plugin,
            _dist: tuple[str, str] | None = dist,
        ) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"register() needs a non-empty name, got {name!r}")
            if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
                raise PluginError(
                    f"register({name!r}, ...) needs a callable or a 'module:attribute' string"
                )
            if name in found or name in _batch:
                raise PluginError(f"type {name!r} is already registered")
            _batch[name] = BackendInfo(
                name, factory, _plugin, _dist[0] if _dist else None, _dist[1] if _dist else None
            )

        others = [p for p in plugins if p is not impl.plugin]
        try:
            pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)
        except Exception as exc:
            record_failure(pm, name_of_plugin, hook_name, exc)
            continue
        found.update(batch)
    return found


def backend_registry(pm: pluggy.PluginManager) -> dict[str, BackendInfo]:
    """Every backend type registered on ``pm`` right now."""
    return _collect(pm, "cachekit_register_backends")


def embedder_registry(pm: pluggy.PluginManager) -> dict[str, BackendInfo]:
    """Every embedder registered on ``pm`` right now."""
    return _collect(pm, "cachekit_register_embedders")


def resolve_backend(pm: pluggy.PluginManager, type_name: str) -> BackendInfo:
    """Find a backend type or raise :class:`UnknownBackendError` with an install hint."""
    registry = backend_registry(pm)
    info = registry.get(type_name)
    if info is not None:
        return info
    installed = sorted(registry)
    failures = plugin_failures(pm)
    hint = ""
    package = KNOWN_PACKAGES.get(type_name)
    broken = next((f for f in failures if package and f.distribution == package), None)
    if broken is not None:
        hint = (
            f" {package} {broken.version} is installed but failed to load: {broken.error}"
            " (cachekit backends shows every failure)"
        )
    elif package is not None:
        hint = f" It is provided by {package}: pip install {package}"
    failed = [f.plugin for f in failures]
    note = f" (plugins that failed to load: {', '.join(failed)})" if failed else ""
    raise UnknownBackendError(
        f"unknown cache type {type_name!r}; installed types: {', '.join(installed)}.{hint}{note}",
        requested=type_name,
        installed=installed,
    )
