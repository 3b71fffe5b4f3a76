"""The user overrides LiteLLM documents: assigning ``cache.get_cache_key``/``get_cache``/
``add_cache`` (or their ``async_`` twins) on a cache replaces that step on every path,
sync and async, the wrapper included. An override that calls the original method
reaches the built-in behaviour, not itself (a context-variable guard). A mixin of
:class:`~cachekit._llm._calls.LLMCalls`, which sets the attributes declared here.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

__all__ = ["OVERRIDABLE", "Overrides"]

#: Which overridable methods are running a user override right now (re-entry guard).
_IN_OVERRIDE: ContextVar[frozenset[str]] = ContextVar("cachekit_in_override", default=frozenset())

#: Each overridable step: the async name is preferred, then the sync one.
_STEPS = {
    "key": ("async_get_cache_key", "get_cache_key"),
    "get": ("async_get_cache", "get_cache"),
    "add": ("async_add_cache", "add_cache"),
}

#: The names an override of one step blocks while it runs (both twins of the step).
_STEPS_OF = {name: names for names in _STEPS.values() for name in names}

#: The methods of ``Cache`` a user may replace by assignment (LiteLLM documents it).
OVERRIDABLE = frozenset(_STEPS_OF)


class Overrides:
    """Finding and calling the overrides assigned on :attr:`owner` (the facade)."""

    owner: Any
    #: Whether any overridable method is assigned (kept by :meth:`overrides_changed`).
    has_overrides: bool

    def overrides_changed(self) -> None:
        """Called by the facade when one of the overridable methods is (un)assigned."""
        assigned = self.owner.__dict__
        self.has_overrides = any(name in assigned for name in OVERRIDABLE)

    def override(self, step: str) -> tuple[str, Callable[..., Any]] | None:
        """The user's override of ``step`` (``"key"``, ``"get"``, ``"add"``), if any and
        not already running."""
        if not self.has_overrides:
            return None
        assigned = self.owner.__dict__
        running = _IN_OVERRIDE.get()
        for name in _STEPS[step]:
            fn = assigned.get(name)
            if fn is not None and name not in running:
                return name, fn
        return None

    @contextlib.contextmanager
    def running(self, name: str) -> Iterator[None]:
        """Mark a built-in method as running: it never dispatches to an override of itself
        (it runs because there is none, or because that override called it)."""
        token = _IN_OVERRIDE.set(_IN_OVERRIDE.get() | {name})
        try:
            yield
        finally:
            _IN_OVERRIDE.reset(token)

    async def call_override(
        self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        token = _IN_OVERRIDE.set(_IN_OVERRIDE.get() | set(_STEPS_OF[name]))
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            _IN_OVERRIDE.reset(token)
