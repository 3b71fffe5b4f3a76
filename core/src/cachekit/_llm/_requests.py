"""LLM requests as the cache sees them, and how their keys are derived.

A key is derived from the request's canonical parameters (:mod:`cachekit._policy._keys`)
after every ``cachekit_key_params`` hook implementation had its say, in pluggy's
call order, each seeing the previous one's result. Hooks are called through pluggy
(one subset caller per implementation, built once per set of implementations), so
an implementation may take a subset of the spec's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from cachekit._policy._controls import CacheControls
from cachekit._policy._keys import canonical_params, canonicalise, derive_key
from cachekit.exceptions import PluginError

if TYPE_CHECKING:
    from cachekit._policy._envelope import Entry
    from cachekit._semantic._index import Probe

__all__ = ["KeyParams", "Request"]


@dataclass(slots=True)
class Request:
    """One LLM request: its call family, keyword arguments as given (what overrides
    receive), validated controls, storage key and canonical parameters (``None``
    when a custom key was used), the semantic probe once computed, and whether a
    lookup found the backend down (so the write is not attempted)."""

    call_type: str
    kwargs: dict[str, Any]
    controls: CacheControls
    key: str = ""
    params: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    probe: Probe | None = None
    degraded: bool = False
    #: A stale entry kept for ``stale-if-error`` (the lookup was a miss).
    held: Entry | None = None

    def answer(self, entry: Entry | None) -> Entry | None:
        """``entry`` as the lookup's answer; one held for ``stale-if-error`` only is no
        answer (``None``): it is kept in :attr:`held` for a provider failure."""
        if entry is not None and entry.held:
            self.held = entry
            return None
        return entry


class KeyParams:
    """Canonical key parameters of requests, with the ``cachekit_key_params`` hooks applied."""

    __slots__ = ("_callers", "_hook", "_impls", "_pm")

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self._hook = pm.hook.cachekit_key_params
        self._impls: list[Any] = []
        self._callers: list[tuple[str, Any]] = []

    def _chain(self) -> list[tuple[str, Any]]:
        impls = self._hook.get_hookimpls()
        if impls != self._impls:
            plugins = [impl.plugin for impl in impls]
            self._callers = [
                (
                    impl.plugin_name,
                    self._pm.subset_hook_caller(
                        "cachekit_key_params",
                        remove_plugins=[p for p in plugins if p is not impl.plugin],
                    ),
                )
                for impl in reversed(impls)  # pluggy's call order: last registered first
            ]
            self._impls = impls
        return self._callers

    def params(self, family: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The parameters that form the key (``ConfigurationError`` if one cannot be keyed)."""
        return self._params(family, kwargs)[0]

    def _params(self, family: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool | None]:
        """:meth:`params`, and whether they hold a nested ``None`` (``None``: not known)."""
        params, nested_none = canonicalise(kwargs)
        if not self._hook.get_hookimpls():
            return params, nested_none
        for plugin, caller in self._chain():
            for changed in caller(call_type=family, params=params):
                if changed is None:
                    continue
                if not isinstance(changed, dict):
                    raise PluginError(f"{plugin}: cachekit_key_params must return a dict or None")
                params = canonical_params(changed)
        return params, None

    def derive(
        self, namespace: str, family: str, kwargs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        if self._hook.get_hookimpls():
            params, nested_none = self._params(family, kwargs)
        else:  # the common case, one call shorter
            params, nested_none = canonicalise(kwargs)
        return derive_key(namespace, family, params, nested_none), params
