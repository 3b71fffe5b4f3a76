"""``TemplateBackend``: a dict standing in for a real store.

Replace the dict with your client; keep the shape: options validated in
``__init__`` (before any I/O, raising ``ConfigurationError``), client errors
translated into ``cachekit.BackendError`` subclasses at the boundary, loop-bound
clients created lazily per event loop, ``aclose`` idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from cachekit import AsyncBackend, ConfigurationError, Usage


class TemplateBackend(AsyncBackend):
    """Stores bytes in a process-local dict, with TTLs on an injectable clock.

    Options (keyword arguments of ``Cache(type="template", ...)``):

    * ``default_ttl``: lifetime in seconds when nothing else sets one;
    * ``clock``: a monotonic ``() -> float`` (tests inject a fake one).

    A real plugin would take its connection options here (use LiteLLM's names
    where they exist: ``host``, ``port``, ``password``…).
    """

    # The dict is touched without suspending, so the core may skip the timeout
    # and the thread hop. A network backend leaves ``inline`` False.
    inline: ClassVar[bool] = True
    native_ttl: ClassVar[bool] = True

    def __init__(
        self,
        *,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if default_ttl is not None and (
            isinstance(default_ttl, bool)
            or not isinstance(default_ttl, int | float)
            or default_ttl <= 0
        ):
            raise ConfigurationError(
                f"template backend: default_ttl must be a positive number, got {default_ttl!r}"
            )
        self.default_ttl = None if default_ttl is None else float(default_ttl)
        self._clock = clock
        # key -> (value, deadline or None)
        self._data: dict[str, tuple[bytes, float | None]] = {}

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, deadline = item
        if deadline is not None and self._clock() >= deadline:
            del self._data[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        deadline = None if ttl is None else self._clock() + ttl
        self._data[key] = (bytes(value), deadline)

    async def delete(self, key: str) -> bool:
        item = self._data.pop(key, None)
        if item is None:
            return False
        _, deadline = item
        # An expired entry no longer "exists", even if it was never swept.
        return deadline is None or self._clock() < deadline

    async def clear(self, prefix: str) -> int:
        doomed = [key for key in self._data if key.startswith(prefix)]
        now = self._clock()
        removed = 0
        for key in doomed:
            _, deadline = self._data.pop(key)
            if deadline is None or now < deadline:
                removed += 1
        return removed

    async def usage(self, prefix: str) -> Usage:
        """Optional (``cachekit stats`` shows it): live entries under ``prefix`` and the
        bytes of their values. A real store asks its server (a listing with sizes)."""
        now = self._clock()
        live = [
            value
            for key, (value, deadline) in self._data.items()
            if key.startswith(prefix) and (deadline is None or now < deadline)
        ]
        return Usage(len(live), sum(len(value) for value in live))

    # A store that other processes see (a server, a shared directory) sets
    # ``shared = True``; with ``scan`` too, Cache(shared_stats=True) keeps counters in it.

    # get_many / set_many: the base class loops over get / set. A store with
    # batch commands (MGET, pipelines) overrides them to make one round trip.

    async def aclose(self) -> None:
        self._data.clear()
