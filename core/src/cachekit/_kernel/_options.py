"""Routing ``Cache(...)`` keyword arguments to a backend factory, by its signature.

A backend's options are declared once: by its factory's keyword parameters
(LiteLLM's names such as ``host``, ``s3_bucket_name`` or ``disk_cache_dir``
included). The core passes a factory exactly the options it names, refuses
anything else with an error that lists what the backend accepts, and hands the
cache's ``clock`` to factories that take one. A factory with ``**options`` declares
nothing and receives everything (it must then reject unknown names itself).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cachekit.exceptions import ConfigurationError

__all__ = ["accepted_options", "route_options"]


def accepted_options(factory: Callable[..., Any]) -> tuple[frozenset[str], bool]:
    """``(names, open_ended)``: the keyword options ``factory`` takes, and whether it
    also takes ``**options``."""
    try:
        return _cached_options(factory)
    except TypeError:  # an unhashable callable object
        return _options_of(factory)


@lru_cache(maxsize=128)
def _cached_options(factory: Callable[..., Any]) -> tuple[frozenset[str], bool]:
    return _options_of(factory)


def _options_of(factory: Callable[..., Any]) -> tuple[frozenset[str], bool]:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: assume it takes anything
        return frozenset(), True
    names = frozenset(
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return names, open_ended


def route_options(
    type_name: str,
    factory: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    clock: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """The keyword arguments to call ``factory`` with; ``ConfigurationError`` (before any
    I/O) for an option the backend does not declare."""
    names, open_ended = accepted_options(factory)
    routed = dict(options)
    if not open_ended:
        unknown = sorted(set(routed) - names)
        if unknown:
            accepted = ", ".join(sorted(names - {"clock"})) or "none"
            raise ConfigurationError(
                f"backend {type_name!r} does not take option(s) {', '.join(unknown)}; "
                f"it accepts: {accepted}"
            )
    if clock is not None and "clock" not in routed and "clock" in names:
        routed["clock"] = clock
    return routed
