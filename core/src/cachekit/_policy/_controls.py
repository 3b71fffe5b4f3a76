"""Per-call cache controls and the TTL policy.

Controls arrive as ``cache={...}`` on a wrapped call (and on
``async_get_cache``/``async_add_cache``) and are validated before any I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cachekit._policy._keys import validate_namespace
from cachekit.exceptions import ConfigurationError

__all__ = [
    "CONTROL_NAMES",
    "NO_CONTROLS",
    "CacheControls",
    "resolve_ttl",
    "validate_ttl",
    "validate_window",
]

CONTROL_NAMES = (
    "no-cache",
    "no-store",
    "ttl",
    "s-maxage",
    "namespace",
    "use-cache",
    "stale-while-revalidate",
    "stale-if-error",
)


def validate_ttl(value: object, what: str = "ttl") -> float | None:
    """``None`` or a finite, non-negative number of seconds (as float); else ``ConfigurationError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{what} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond a float's range
        raise ConfigurationError(f"{what} is too large to be a number of seconds") from None
    if math.isnan(seconds) or seconds < 0:
        raise ConfigurationError(f"{what} must be a non-negative number of seconds, got {value!r}")
    return None if math.isinf(seconds) else seconds


def validate_window(value: object, what: str) -> float | None:
    """A stale window: ``None`` or finite, non-negative float seconds (an unbounded
    window would keep entries forever); else ``ConfigurationError``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isinf(value):
        raise ConfigurationError(f"{what} must be a finite number of seconds, got {value!r}")
    return validate_ttl(value, what)


def _flag(controls: Mapping[str, Any], name: str) -> bool:
    value = controls.get(name, False)
    if not isinstance(value, bool):
        raise ConfigurationError(f"cache control {name!r} must be True or False, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class CacheControls:
    """The validated per-call controls.

    ``no_cache``: do not read, call the provider, store the fresh result.
    ``no_store``: do not write. ``ttl``: lifetime of the stored result.
    ``s_maxage``: accept only entries at most that old. ``namespace``: override.
    ``use_cache``: opt this call in when the cache is ``mode="default_off"``.
    ``stale_while_revalidate``: serve an entry up to that long past its freshness
    while one background refresh runs. ``stale_if_error``: on a provider error, serve
    an entry up to that long past its freshness instead of raising. ``None`` for
    either means "the cache's default" (see :meth:`with_defaults`).
    """

    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None
    s_maxage: float | None = None
    namespace: str | None = None
    use_cache: bool = False
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None

    @property
    def max_stale(self) -> float:
        """The longest a stored entry may be served past its freshness (``0``: never)."""
        return max(self.stale_while_revalidate or 0.0, self.stale_if_error or 0.0)

    def with_defaults(self, swr: float | None, sie: float | None) -> CacheControls:
        """These controls with the cache's stale windows where the call gave none."""
        if (swr is None or self.stale_while_revalidate is not None) and (
            sie is None or self.stale_if_error is not None
        ):
            return self
        return replace(
            self,
            stale_while_revalidate=(
                swr if self.stale_while_revalidate is None else self.stale_while_revalidate
            ),
            stale_if_error=sie if self.stale_if_error is None else self.stale_if_error,
        )

    def fresh_only(self) -> CacheControls:
        """These controls without stale windows (for reads that cannot refresh or fall
        back: the LiteLLM-named ``get_cache``, which has no provider to call)."""
        if not self.max_stale:
            return self
        return replace(self, stale_while_revalidate=0.0, stale_if_error=0.0)

    def rejects(self, age: float) -> bool:
        """Whether ``s-maxage`` refuses an entry ``age`` seconds old (``0`` refuses all)."""
        limit = self.s_maxage
        return limit is not None and (limit == 0 or age > limit)

    @classmethod
    def parse(cls, controls: object) -> CacheControls:
        """Validate a ``cache={...}`` mapping; raise ``ConfigurationError`` (a ``ValueError``)."""
        if controls is None:
            return NO_CONTROLS
        if isinstance(controls, CacheControls):
            return controls
        if not isinstance(controls, Mapping):
            raise ConfigurationError(
                f"cache controls must be a dict, got {type(controls).__name__}"
            )
        unknown = [k for k in controls if k not in CONTROL_NAMES]
        if unknown:
            raise ConfigurationError(
                f"unknown cache control(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(CONTROL_NAMES)}"
            )
        if not controls:
            return NO_CONTROLS
        namespace = controls.get("namespace")
        return cls(
            no_cache=_flag(controls, "no-cache"),
            no_store=_flag(controls, "no-store"),
            ttl=validate_ttl(controls.get("ttl"), "cache control 'ttl'"),
            s_maxage=validate_ttl(controls.get("s-maxage"), "cache control 's-maxage'"),
            namespace=None if namespace is None else validate_namespace(namespace),
            use_cache=_flag(controls, "use-cache"),
            stale_while_revalidate=validate_window(
                controls.get("stale-while-revalidate"), "cache control 'stale-while-revalidate'"
            ),
            stale_if_error=validate_window(
                controls.get("stale-if-error"), "cache control 'stale-if-error'"
            ),
        )


#: The controls of a call that passed none.
NO_CONTROLS = CacheControls()


def resolve_ttl(
    per_call: float | None,
    from_hook: float | None,
    cache_default: float | None,
    backend_default: float | None,
) -> float | None:
    """Precedence: per-call ``ttl`` → ``cachekit_entry_ttl`` hook → ``Cache(ttl=)`` →
    the backend's default → no expiry. ``0`` means "do not store"."""
    for ttl in (per_call, from_hook, cache_default, backend_default):
        if ttl is not None:
            return ttl
    return None
