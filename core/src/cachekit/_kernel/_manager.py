"""Building the plugin manager.

There is no import-time global beyond a lazily created default manager.
``CACHEKIT_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points (the built-in plugins
still register), which tests use to get a hermetic manager.

A plugin that fails to import, whose hook implementations do not match a spec
(a misspelled ``cachekit_*`` hook, an argument the spec does not offer), or whose
registration hook raises is logged, recorded (:func:`plugin_failures`, with the
distribution it comes from) and skipped: it never stops the others.

Speed (``cachekit backends`` and the first ``Cache()`` of a process pay it): one
scan of the ``cachekit`` entry-point group; a distribution's name and version are
read from its metadata only when asked for (:func:`distribution_of`), once each.

The PyPI name ``cachekit`` belongs to an unrelated project that also installs an
import package named ``cachekit``; :func:`foreign_cachekit` finds it, and building a
manager with entry points logs one WARNING when it is installed beside us (not
``import cachekit``: that stays free of metadata scans).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.metadata import Distribution

import pluggy

from cachekit import hookspecs

__all__ = [
    "AUTOLOAD_ENV",
    "DEFAULT_PLUGINS",
    "PluginFailure",
    "build_plugin_manager",
    "describe_plugin",
    "core_version",
    "distribution_of",
    "foreign_cachekit",
    "foreign_cachekit_advice",
    "get_plugin_manager",
    "plugin_failures",
    "record_failure",
]

logger = logging.getLogger("cachekit")

AUTOLOAD_ENV = "CACHEKIT_DISABLE_PLUGIN_AUTOLOAD"

#: The core's own distribution name (the PyPI name ``cachekit`` belongs to another project).
CORE_DISTRIBUTION = "cachekit-core"
#: The unrelated PyPI project that also installs an import package named ``cachekit``.
FOREIGN_DISTRIBUTION = "cachekit"

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
    """A plugin that could not be loaded, did not validate, or whose hook raised;
    ``distribution`` and ``version`` say where it is installed from, when known."""

    plugin: str
    stage: str
    error: str
    distribution: str | None = None
    version: str | None = None


@dataclass
class _Provenance:
    """Per-manager bookkeeping that pluggy has no place for. A plugin's distribution
    is kept as the metadata object until someone asks for its name and version."""

    failures: list[PluginFailure] = field(default_factory=list)
    distributions: dict[str, tuple[str, str] | Distribution] = field(default_factory=dict)


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
    core = (CORE_DISTRIBUTION, core_version())
    for module_name in DEFAULT_PLUGINS:
        pm.register(import_module(module_name), name=module_name)
        prov.distributions[module_name] = core
    if autoload is None:
        autoload = not os.environ.get(AUTOLOAD_ENV)
    if autoload:
        _load_entry_points(pm, prov)
        _warn_if_foreign_cachekit()
    _validate(pm)
    return pm


@functools.cache
def core_version() -> str:
    """The installed version of ``cachekit-core`` (``"unknown"`` when run from source)."""
    from importlib import metadata  # ~20 ms; only needed to build a manager

    try:
        return metadata.version(CORE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def _load_entry_points(pm: pluggy.PluginManager, prov: _Provenance) -> None:
    from importlib import metadata

    for ep in metadata.entry_points(group=hookspecs.PROJECT_NAME):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        if ep.dist is not None:  # known before loading, so a failure names it too
            prov.distributions[ep.name] = ep.dist
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            record_failure(pm, ep.name, "load", exc)


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
    dist = distribution_of(pm, plugin)
    failure = PluginFailure(
        plugin, stage, f"{type(exc).__name__}: {exc}", *(dist if dist else (None, None))
    )
    prov = _provenance(pm)
    if failure not in prov.failures:
        source = f" (from {dist[0]} {dist[1]})" if dist else ""
        logger.warning(
            "cachekit plugin %r%s failed (%s); skipped: %s", plugin, source, stage, failure.error
        )
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
    known = _provenance(pm).distributions
    found = known.get(plugin_name)
    if found is None or isinstance(found, tuple):
        return found
    identity = (found.name, found.version)  # reads the distribution's metadata, once:
    for name, value in known.items():  # its other entry points share the answer
        if value is found:
            known[name] = identity
    return identity


def foreign_cachekit() -> tuple[str, str] | None:
    """``(version, location)`` of the unrelated PyPI project ``cachekit`` when it is
    installed in this environment (ours is ``cachekit-core``), else None."""
    from importlib import metadata

    for dist in metadata.distributions(name=FOREIGN_DISTRIBUTION):
        return dist.version, str(dist.locate_file(""))
    return None


def foreign_cachekit_advice(found: tuple[str, str]) -> str:
    """What to tell a user who has both projects installed."""
    version, location = found
    return (
        f"the unrelated PyPI project 'cachekit' {version} is installed in {location}; it "
        "installs an import package also named 'cachekit', so its files and cachekit-core's "
        "overwrite each other. Fix: pip uninstall cachekit && "
        "pip install --force-reinstall cachekit-core"
    )


_foreign_warned = False


def _warn_if_foreign_cachekit() -> None:
    """One WARNING per process when the other ``cachekit`` is installed beside us."""
    global _foreign_warned
    if _foreign_warned:
        return
    _foreign_warned = True
    found = foreign_cachekit()
    if found is not None:
        logger.warning("%s", foreign_cachekit_advice(found))


def describe_plugin(plugin: object) -> str:
    """A short printable name for a registered plugin object."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__qualname__
