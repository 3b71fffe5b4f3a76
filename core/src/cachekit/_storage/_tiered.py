"""``TieredBackend``: an in-process L1 in front of any backend (LiteLLM's DualCache).

Reads try the L1 (a :class:`~cachekit.LocalBackend`) first and fall through to the
L2 (Redis, S3, disk…) on a miss, copying what they find into the L1 for at most
``l1_ttl`` seconds. Writes go to the L2 first and then to the L1.

Staleness bound
    Changes made through *this* backend (``set``, ``set_many``, ``delete``,
    ``clear``) are seen by its next read at once: they invalidate the L1 entry
    and any L2 read still in flight for that key, so an older value fetched
    concurrently is never copied into the L1 after the change. Changes made by
    anyone else (another process, another ``Cache`` object) are seen after at
    most ``l1_ttl`` seconds, the lifetime of an L1 copy. An L1 copy never
    outlives the lifetime it was written with, but a copy filled by a read does
    not know the L2 entry's remaining lifetime: readers that need exact expiry
    check it themselves (``Cache`` does, from the entry envelope).

Coherence across processes is out of scope here; the natural next step is an
invalidation feed from the L2 (Redis ``CLIENT TRACKING`` in broadcast mode on the
``cachekit:`` prefix, or a pub/sub channel that writers publish keys to) that
drops L1 entries, with ``l1_ttl`` kept as the safety net for missed messages.
"""

from __future__ import annotations

import math
import threading
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping, Sequence

from cachekit._storage._backend import AsyncBackend, Usage
from cachekit._storage._local import LocalBackend
from cachekit.exceptions import ConfigurationError

__all__ = ["TieredBackend"]


class _Reads:
    """L2 reads in flight for one key, and whether the key changed meanwhile."""

    __slots__ = ("count", "stale")

    def __init__(self) -> None:
        self.count = 0
        self.stale = False


class TieredBackend(AsyncBackend):
    """An L1 :class:`LocalBackend` in front of an L2 :class:`AsyncBackend`.

    ``l1_ttl`` (float seconds, > 0) bounds how long a value may be served from the
    L1 without asking the L2, i.e. the staleness bound for changes made elsewhere
    (see the module docstring). Size the L1 through the ``LocalBackend`` itself
    (``max_size``, ``max_size_bytes``). ``l1_hits``/``l1_misses`` count reads
    answered (or not) by the L1.
    """

    def __init__(self, l1: LocalBackend, l2: AsyncBackend, l1_ttl: float) -> None:
        if not isinstance(l1, LocalBackend):
            raise ConfigurationError(f"TieredBackend: l1 must be a LocalBackend, got {l1!r}")
        if not isinstance(l2, AsyncBackend):
            raise ConfigurationError(f"TieredBackend: l2 must be an AsyncBackend, got {l2!r}")
        if (
            isinstance(l1_ttl, bool)
            or not isinstance(l1_ttl, int | float)
            or not math.isfinite(l1_ttl)
            or l1_ttl <= 0
        ):
            raise ConfigurationError(
                f"TieredBackend: l1_ttl must be a positive number of seconds, got {l1_ttl!r}"
            )
        self.l1 = l1
        self.l2 = l2
        self.l1_ttl = float(l1_ttl)
        self.default_ttl = l2.default_ttl
        self.shared = l2.shared
        self.l1_hits = 0
        self.l1_misses = 0
        self._reads: dict[str, _Reads] = {}
        # Bookkeeping only (no I/O under it): the sync face may use the backend from
        # its loop thread while async callers use it from theirs.
        self._lock = threading.Lock()

    def fault_domain(self, key: str) -> Hashable | None:
        """The L2's fault domain of ``key`` (the L1 cannot fail on its own)."""
        return self.l2.fault_domain(key)

    def _l1_lifetime(self, ttl: float | None) -> float:
        return self.l1_ttl if ttl is None else min(ttl, self.l1_ttl)

    # -- in-flight read tracking -------------------------------------------------
    def _begin(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                reads = self._reads.get(key)
                if reads is None:
                    reads = self._reads[key] = _Reads()
                reads.count += 1

    def _end(self, keys: Iterable[str]) -> set[str]:
        """Finish reads of ``keys``; return those that changed while being read."""
        stale: set[str] = set()
        with self._lock:
            for key in keys:
                reads = self._reads[key]
                if reads.stale:
                    stale.add(key)
                reads.count -= 1
                if reads.count == 0:
                    del self._reads[key]
        return stale

    def _mark_stale(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                reads = self._reads.get(key)
                if reads is not None:
                    reads.stale = True

    def _mark_prefix_stale(self, prefix: str) -> None:
        with self._lock:
            for key, reads in self._reads.items():
                if key.startswith(prefix):
                    reads.stale = True

    async def _invalidate(self, keys: Sequence[str]) -> None:
        self._mark_stale(keys)
        for key in keys:
            await self.l1.delete(key)

    # -- reads -------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        value = await self.l1.get(key)
        if value is not None:
            self.l1_hits += 1
            return value
        self.l1_misses += 1
        keys = (key,)
        self._begin(keys)
        try:
            value = await self.l2.get(key)
        finally:
            stale = self._end(keys)
        if value is not None and not stale:
            await self.l1.set(key, value, self.l1_ttl)
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values = await self.l1.get_many(keys)
        missing = [i for i, value in enumerate(values) if value is None]
        self.l1_hits += len(values) - len(missing)
        self.l1_misses += len(missing)
        if not missing:
            return values
        wanted = list(dict.fromkeys(keys[i] for i in missing))
        self._begin(wanted)
        try:
            found = await self.l2.get_many(wanted)
        finally:
            stale = self._end(wanted)
        fetched = dict(zip(wanted, found, strict=True))
        for i in missing:
            values[i] = fetched[keys[i]]
        fill = {k: v for k, v in fetched.items() if v is not None and k not in stale}
        if fill:
            await self.l1.set_many(fill, self.l1_ttl)
        return values

    # -- writes ------------------------------------------------------------------
    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        keys = (key,)
        await self._invalidate(keys)
        try:
            await self.l2.set(key, value, ttl)
        finally:
            # Reads that overlapped the write may hold the old value: never let them fill.
            await self._invalidate(keys)
        await self.l1.set(key, value, self._l1_lifetime(ttl))

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        keys = list(mapping)
        await self._invalidate(keys)
        try:
            await self.l2.set_many(mapping, ttl)
        finally:
            await self._invalidate(keys)
        await self.l1.set_many(mapping, self._l1_lifetime(ttl))

    async def delete(self, key: str) -> bool:
        keys = (key,)
        await self._invalidate(keys)
        try:
            return await self.l2.delete(key)
        finally:
            await self._invalidate(keys)

    async def clear(self, prefix: str) -> int:
        self._mark_prefix_stale(prefix)
        await self.l1.clear(prefix)
        try:
            return await self.l2.clear(prefix)
        finally:
            self._mark_prefix_stale(prefix)
            await self.l1.clear(prefix)

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        """The L2's keys (the L1 holds copies of some of them)."""
        async for key in self.l2.scan(prefix):
            yield key

    async def usage(self, prefix: str) -> Usage:
        """The L2's usage (the L1 holds copies of some of its entries)."""
        return await self.l2.usage(prefix)

    async def aclose(self) -> None:
        try:
            await self.l2.aclose()
        finally:
            await self.l1.aclose()
