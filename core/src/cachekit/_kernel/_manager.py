"""Building the plugin manager.

There is no import-time global beyond a lazily created default manager.
``CACHEKIT_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points (the built-in plugins
still register), which tests use to get a hermetic manager.

A plugin that fails to import, whose hook implementations do not match a spec
(a misspelled ``cachekit_*`` hook, an argument the spec does not offer), or whose
registration hook raises is logged, recorded (:func:`plugin_failures`) and skipped:
it never stops the others.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType

import pluggy

from cachekit import hookspecs

__all__ = [
    "AUTOLOAD_ENV",
    "DEFAULT_PLUGINS",
    "PluginFailure",
    "build_plugin_manager",
    "describe_plugin",
    "distribution_of",
    "get_plugin_manager",
    "plugin_failures",
    "record_failure",
]

logger = logging.getLogger("cachekit")

AUTOLOAD_ENV = "CACHEKIT_DISABLE_PLUGIN_AUTOLOAD"

#: The core's own distribution name (the PyPI name ``cachekit`` belongs to another project).
CORE_DISTRIBUTION = "cachekit-core"

#: Plugins that ship inside the core and register through the public hooks.
DEFAULT_PLUGINS = (
    "cachekit._storage._local",
    "cachekit._semantic._local",
    "cachekit._semantic._embedders",
    "cachekit._semantic._verify",
    "cachekit._kernel._urls",
)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, did not validate, or whose hook raised."""

    plugin: str
    stage: str
    error: str


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
    ``CACHEKIT_DISABLE_PLUGIN_AUTOLOAD`` is set), and validate every plugin against
    the specs (``check_pending``)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    prov = _provenance(pm)
    for module_name in DEFAULT_PLUGINS:
        pm.register(import_module(module_name), name=module_name)
        prov.distributions[module_name] = (CORE_DISTRIBUTION, _version(CORE_DISTRIBUTION))
    if autoload is None:
        autoload = not os.environ.get(AUTOLOAD_ENV)
    if autoload:
        _load_entry_points(pm, prov)
    _validate(pm)
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
            record_failure(pm, ep.name, "load", exc)
            continue
        if ep.dist is not None:
            prov.distributions[ep.name] = (ep.dist.name, ep.dist.version)


def _validate(pm: pluggy.PluginManager) -> None:
    """Unregister (and report) every plugin with a hook implementation no spec knows."""
    for _ in range(len(pm.get_plugins()) + 1):
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or describe_plugin(exc.plugin)
            record_failure(pm, name, "validate", exc)
            pm.unregister(exc.plugin)


def record_failure(pm: pluggy.PluginManager, plugin: str, stage: str, exc: BaseException) -> None:
    """Log and remember that ``plugin`` failed at ``stage`` (once per distinct failure)."""
    failure = PluginFailure(plugin, stage, f"{type(exc).__name__}: {exc}")
    prov = _provenance(pm)
    if failure not in prov.failures:
        logger.warning("cachekit plugin %r failed (%s); skipped: %s", plugin, stage, failure.error)
        prov.failures.append(failure)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = build_plugin_manager()
    return _default


def plugin_failures(pm: pluggy.PluginManager) -> list[PluginFailure]:
    """Plugins that failed to load, validate or register on ``pm``, with the reason."""
    return list(_provenance(pm).failures)


def distribution_of(pm: pluggy.PluginManager, plugin_name: str) -> tuple[str, str] | None:
    """``(distribution, version)`` a plugin was loaded from, when known."""
    return _provenance(pm).distributions.get(plugin_name)


def describe_plugin(plugin: object) -> str:
    """A short printable name for a registered plugin object."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__qualname__
