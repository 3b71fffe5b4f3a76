"""``local-semantic``: the in-memory reference semantic backend.

The local LRU for values plus, per partition, a dict of key → (vector, expiry)
searched by brute force in pure Python. Meant for tests, examples and small
single-process caches (a few thousand entries); the Redis and Qdrant plugins are
the scalable ones. Evicted or cleared values simply miss when a search finds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from cachekit._semantic._backend import SemanticBackend, SemanticMatch
from cachekit._storage._local import LocalBackend
from cachekit.hookspecs import RegisterBackend, hookimpl

__all__ = ["LocalSemanticBackend"]


class LocalSemanticBackend(LocalBackend, SemanticBackend):
    """In-process semantic backend (options as :class:`LocalBackend`)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, **options: Any) -> None:
        super().__init__(clock=clock, **options)
        self._vectors: dict[str, dict[str, tuple[list[float], float | None]]] = {}

    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        with self._lock:
            entries = self._vectors.get(partition)
            if not entries:
                return None
            now = self._clock()
            best: SemanticMatch | None = None
            for key, (stored, deadline) in list(entries.items()):
                if deadline is not None and now >= deadline:
                    del entries[key]
                    continue
                similarity = sum(a * b for a, b in zip(vector, stored, strict=False))
                if similarity >= threshold and (best is None or similarity > best.similarity):
                    best = SemanticMatch(key, similarity)
            return best

    async def index(
        self, partition: str, key: str, vector: Sequence[float], ttl: float | None
    ) -> None:
        with self._lock:
            deadline = None if ttl is None else self._clock() + ttl
            self._vectors.setdefault(partition, {})[key] = (list(vector), deadline)

    async def clear(self, prefix: str) -> int:
        removed = await super().clear(prefix)
        with self._lock:
            for entries in self._vectors.values():
                for key in [k for k in entries if k.startswith(prefix)]:
                    del entries[key]
        return removed

    async def aclose(self) -> None:
        await super().aclose()
        with self._lock:
            self._vectors.clear()


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("local-semantic", LocalSemanticBackend)
