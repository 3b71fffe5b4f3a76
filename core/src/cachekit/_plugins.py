"""Building the plugin manager and reading the backend/embedder registries.

There is no import-time global beyond a lazily created default manager.
``CACHEKIT_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points (the built-in plugins
still register), which tests use to get a hermetic manager.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

import pluggy

from cachekit import hookspecs
from cachekit.exceptions import PluginError, UnknownBackendError

__all__ = [
    "KNOWN_PACKAGES",
    "BackendInfo",
    "PluginFailure",
    "backend_registry",
    "build_plugin_manager",
    "embedder_registry",
    "get_plugin_manager",
    "plugin_failures",
    "resolve_backend",
]

logger = logging.getLogger("cachekit")

AUTOLOAD_ENV = "CACHEKIT_DISABLE_PLUGIN_AUTOLOAD"

#: Plugins that ship inside the core and register through the public hooks.
DEFAULT_PLUGINS = ("cachekit._local", "cachekit._local_semantic", "cachekit._embedders")

#: Backend types published by the cachekit project, for the "pip install" hint.
KNOWN_PACKAGES = {
    "local": "cachekit",
    "local-semantic": "cachekit",
    "redis": "cachekit-redis",
    "redis-semantic": "cachekit-redis",
    "s3": "cachekit-s3",
    "disk": "cachekit-disk",
    "qdrant-semantic": "cachekit-qdrant",
}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or whose hook raised."""

    plugin: str
    stage: str
    error: str


@dataclass(frozen=True)
class BackendInfo:
    """One registered backend type and where it comes from."""

    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str | None = None
    version: str | None = None


@dataclass
class _Provenance:
    """Per-manager bookkeeping that pluggy has no place for."""

    failures: list[PluginFailure] = field(default_factory=list)
    distributions: dict[str, tuple[str, str]] = field(default_factory=dict)


_PROVENANCE_ATTR = "_cachekit_provenance"
_default: pluggy.PluginManager | None = None
_default_lock = threading.Lock()


def _provenance(pm: pluggy.PluginManager) -> _Provenance:
    prov: _Provenance | None = getattr(pm, _PROVENANCE_ATTR, None)
    if prov is None:
        prov = _Provenance()
        setattr(pm, _PROVENANCE_ATTR, prov)
    return prov


def build_plugin_manager(*, autoload: bool | None = None) -> pluggy.PluginManager:
    """Create a plugin manager: add the hook specs, register the built-in plugins,
    then load the ``cachekit`` entry points (unless ``autoload`` is false or
    ``CACHEKIT_DISABLE_PLUGIN_AUTOLOAD`` is set).

    An entry point that fails to import or register is logged, recorded (see
    :func:`plugin_failures`) and skipped; it never stops the others.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    prov = _provenance(pm)
    for module_name in DEFAULT_PLUGINS:
        pm.register(import_module(module_name), name=module_name)
        prov.distributions[module_name] = ("cachekit", _version("cachekit"))
    if autoload is None:
        autoload = not os.environ.get(AUTOLOAD_ENV)
    if autoload:
        _load_entry_points(pm, prov)
    return pm


def _version(dist: str) -> str:
    from importlib import metadata  # ~25 ms; only needed to build a manager

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _load_entry_points(pm: pluggy.PluginManager, prov: _Provenance) -> None:
    from importlib import metadata

    for ep in metadata.entry_points(group=hookspecs.PROJECT_NAME):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            logger.warning("cachekit plugin %r failed to load; skipped", ep.name, exc_info=True)
            prov.failures.append(PluginFailure(ep.name, "load", f"{type(exc).__name__}: {exc}"))
            continue
        if ep.dist is not None:
            prov.distributions[ep.name] = (ep.dist.name, ep.dist.version)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = build_plugin_manager()
    return _default


def plugin_failures(pm: pluggy.PluginManager) -> list[PluginFailure]:
    """Plugins that failed to load or register on ``pm``, with the reason."""
    return list(_provenance(pm).failures)


def _collect(pm: pluggy.PluginManager, hook_name: str) -> dict[str, BackendInfo]:
    """Run a ``register(name, factory)`` hook one implementation at a time, so one
    raising plugin is reported and skipped instead of hiding every other one."""
    prov = _provenance(pm)
    found: dict[str, BackendInfo] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order: the first to claim a name keeps it
        plugin_name = impl.plugin_name
        dist = prov.distributions.get(plugin_name)
        batch: dict[str, BackendInfo] = {}

        def register(
            name: str,
            factory: Callable[..., Any],
            _batch: dict[str, BackendInfo] = batch,
            _plugin: str = plugin_name,
            _dist: tuple[str, str] | None = dist,
        ) -> None:
            if not isinstance(name, str) or not name or not callable(factory):
                raise PluginError(f"register() needs a non-empty name and a factory, got {name!r}")
            if name in found or name in _batch:
                raise PluginError(f"backend type {name!r} is already registered")
            _batch[name] = BackendInfo(
                name, factory, _plugin, _dist[0] if _dist else None, _dist[1] if _dist else None
            )

        try:
            impl.function(register=register)
        except Exception as exc:
            failure = PluginFailure(plugin_name, hook_name, f"{type(exc).__name__}: {exc}")
            if failure not in prov.failures:
                logger.warning("cachekit plugin %r: %s failed; skipped", plugin_name, hook_name)
                prov.failures.append(failure)
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
    hint = ""
    package = KNOWN_PACKAGES.get(type_name)
    if package is not None:
        hint = f" It is provided by {package}: pip install {package}"
    failed = [f.plugin for f in plugin_failures(pm)]
    note = f" (plugins that failed to load: {', '.join(failed)})" if failed else ""
    raise UnknownBackendError(
        f"unknown cache type {type_name!r}; installed types: {', '.join(installed)}.{hint}{note}",
        requested=type_name,
        installed=installed,
    )


def describe_plugin(plugin: object) -> str:
    """A short printable name for a registered plugin object."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__qualname__
