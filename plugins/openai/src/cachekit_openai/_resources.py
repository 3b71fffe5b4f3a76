"""``CachedResource``: an SDK resource (``client.chat``, ``client.chat.completions``…)
seen through a wrapped client.

A thin proxy rather than a subclass or a patched instance, on purpose: the SDK's own
helpers call ``self.create`` internally (``chat.completions.stream`` and the
``with_raw_response`` wrappers among them), and those must keep reaching the real,
uncached method. So the proxy answers the cached method names and the sub-resources
leading to them itself, and hands every other attribute to the client's own resource
(``with_raw_response``, ``with_streaming_response``, ``retrieve``, ``list``…).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CachedResource"]


class CachedResource:
    """One resource of a wrapped client (see the module docstring)."""

    __slots__ = ("_cachekit_children", "_cachekit_methods", "_cachekit_target")

    def __init__(
        self,
        target: Any,
        methods: dict[str, Callable[..., Any]],
        children: dict[str, CachedResource],
    ) -> None:
        self._cachekit_target = target
        self._cachekit_methods = methods
        self._cachekit_children = children

    def __getattr__(self, name: str) -> Any:
        # Only called for names the slots do not hold. A half-built proxy (copy,
        # pickle) has no slots set yet: refuse instead of recursing.
        if name.startswith("_cachekit_"):
            raise AttributeError(name)
        method = self._cachekit_methods.get(name)
        if method is not None:
            return method
        child = self._cachekit_children.get(name)
        if child is not None:
            return child
        return getattr(self._cachekit_target, name)

    def __dir__(self) -> list[str]:
        names = set(dir(self._cachekit_target))
        return sorted(names | self._cachekit_methods.keys() | self._cachekit_children.keys())

    def __repr__(self) -> str:
        cached = sorted(self._cachekit_methods)
        return f"<cached {self._cachekit_target!r} (cached: {', '.join(cached) or '-'})>"
