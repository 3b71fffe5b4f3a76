"""Failures of this package's own steps, never silent and never raised into a call.

cachekit reports its failures (backend outages, corrupt entries, keys it cannot
derive) itself: one WARNING per kind on the ``cachekit`` logger, every one counted in
``cache.stats().errors``. What can fail here, around those calls (a LiteLLM result
this package cannot turn into an entry, an invalid control met on a background
write), is logged the same way on ``cachekit.litellm``: once per kind at WARNING,
repeats at DEBUG, and counted in :attr:`Failures.count`.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["Failures"]

_log = logging.getLogger("cachekit.litellm")


class Failures:
    """The failures of one cache's LiteLLM adapter (see the module docstring)."""

    def __init__(self) -> None:
        self.count = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def report(self, kind: str, fix: str, exc: BaseException) -> None:
        """Count a failure; log it at WARNING if it is the first of its ``kind``."""
        with self._lock:
            self.count += 1
            first = kind not in self._seen
            self._seen.add(kind)
        level = logging.WARNING if first else logging.DEBUG
        _log.log(
            level, "cachekit-litellm: %s failed (%s: %s); %s", kind, type(exc).__name__, exc, fix
        )
