"""``Cache.from_url``: a URL turned into ``Cache`` keyword arguments.

The core reads its own query options (``namespace``, ``ttl``, ``timeout`` and the
L1 tier's) from any URL; everything else belongs to the backend. Each plugin
registers the schemes it understands (``cachekit_register_url_schemes``) with a
parser ``(url) -> {"type": ..., **options}``; the URL a parser receives no longer
holds the core's query options. A scheme nobody registered is read as a backend
type name, given the whole URL as its ``url`` option.

This module is also the core's own plugin: it registers ``local://`` (``memory://``,
``mem://``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pluggy

from cachekit._kernel._manager import get_plugin_manager, record_failure
from cachekit.exceptions import ConfigurationError
from cachekit.hookspecs import hookimpl

__all__ = ["UrlParser", "coerce", "options_from_url", "query_options", "url_schemes"]

UrlParser = Callable[[str], dict[str, Any]]


def _flag(raw: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    lowered = raw.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(raw)


#: Query parameters that configure the core rather than the backend.
_CORE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "namespace": str,
    "ttl": float,
    "timeout": float,
    "l1_ttl": float,
    "l1_max_size": int,
    "l1_max_size_bytes": int,
    "single_flight": str,
    "single_flight_lease": float,
    "single_flight_wait": float,
    "stale_while_revalidate": float,
    "stale_if_error": float,
    "shared_stats": _flag,
}


def coerce(value: str) -> Any:
    """A query-string value as a bool, int or float where it reads as one."""
    lowered = value.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def query_options(url: str, aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The query-string options of ``url`` as backend keyword arguments, for a plugin's
    ``from_url`` parser: values read as bool, int or float where they can (``true``/
    ``false``, ``yes``/``no``, ``on``/``off``), names renamed through ``aliases``."""
    renames = aliases or {}
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return {renames.get(name, name): coerce(value) for name, value in pairs}


def url_schemes(pm: pluggy.PluginManager) -> dict[str, UrlParser]:
    """Every URL scheme registered on ``pm`` (the first plugin to claim one keeps it)."""
    found: dict[str, UrlParser] = {}
    impls = pm.hook.cachekit_register_url_schemes.get_hookimpls()
    plugins = [impl.plugin for impl in impls]
    for impl in impls:
        batch: dict[str, UrlParser] = {}

        def register(scheme: str, parse: UrlParser, _batch: dict[str, UrlParser] = batch) -> None:
            if not isinstance(scheme, str) or not scheme or not callable(parse):
                raise ConfigurationError(f"register() needs a scheme and a parser, got {scheme!r}")
            key = scheme.lower()
            if key not in found:
                _batch[key] = parse

        others = [p for p in plugins if p is not impl.plugin]
        try:
            pm.subset_hook_caller("cachekit_register_url_schemes", remove_plugins=others)(
                register=register
            )
        except Exception as exc:
            record_failure(pm, impl.plugin_name, "cachekit_register_url_schemes", exc)
            continue
        found.update(batch)
    return found


def options_from_url(url: str, pm: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """``Cache`` keyword arguments for ``url`` (see the module docstring)."""
    if pm is None:
        pm = get_plugin_manager()
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(f"not a cache URL (expected scheme://...): {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options: dict[str, Any] = {}
    rest: list[str] = []  # the backend's query pairs, exactly as written
    for pair in parts.query.split("&") if parts.query else ():
        fields = parse_qsl(pair, keep_blank_values=True)
        kind = _CORE_OPTIONS.get(fields[0][0]) if fields else None
        if kind is None:
            rest.append(pair)
            continue
        name, raw = fields[0]
        try:
            options[name] = kind(raw)
        except ValueError:
            what = {int: "an integer", float: "a number", _flag: "true or false"}.get(
                kind, "a string"
            )
            raise ConfigurationError(
                f"URL option {name} must be {what}, got {raw!r} (in ?{name}=...)"
            ) from None
    base = url.split("?", 1)[0]
    backend_url = f"{base}?{'&'.join(rest)}" if rest else base
    parse = url_schemes(pm).get(scheme)
    if parse is None:
        options.update(type=scheme, url=backend_url)
        return options
    parsed = parse(backend_url)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
        raise ConfigurationError(f"the {scheme}:// parser returned no backend type")
    options.update(parsed)
    return options


def _parse_local(url: str) -> dict[str, Any]:
    return {"type": "local", **query_options(url)}


@hookimpl
def cachekit_register_url_schemes(register: Callable[[str, UrlParser], None]) -> None:
    for scheme in ("local", "memory", "mem"):
        register(scheme, _parse_local)
