"""``cache_info(response)``: whether a result came from the cache, without an observer.

The wrapper records what it knows about each result it returns (whole responses
and stream objects) in a small identity map: the most recent results, strong
references, bounded (:data:`REMEMBERED`, a ring of slots: O(1) per result). Identity, not equality: two equal
responses, one fresh and one cached, are told apart. Plain values (a ``str``, an
``int``) that may be shared by unrelated code are not recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["REMEMBERED", "CacheInfo", "Info", "cache_info", "info_of", "remember"]

#: How many results ``cache_info`` can still answer for (the oldest are forgotten).
REMEMBERED = 1024

_SHARED = (str, int, float, bool, bytes, type(None))


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What the cache did for one result: ``hit``; the storage ``key`` (as
    ``get_cache_key`` returns it) and its ``namespace``; the entry's ``age_s`` and, for a
    semantic hit, its ``similarity`` (``None`` on a miss)."""

    hit: bool
    key: str
    namespace: str
    age_s: float | None = None
    similarity: float | None = None


#: What :func:`remember` keeps for a result: its :class:`CacheInfo`, or the pieces to
#: build it from when asked (a hit does not pay for an object nobody may look at).
Info = CacheInfo | tuple[bool, str, Callable[[str], str], float | None, float | None]


def info_of(
    hit: bool,
    key: str,
    namespace_of: Callable[[str], str],
    age_s: float | None = None,
    similarity: float | None = None,
) -> Info:
    """The pieces of a :class:`CacheInfo` (``namespace_of`` turns the key into its
    namespace), built into one only when :func:`cache_info` asks."""
    return (hit, key, namespace_of, age_s, similarity)


#: A ring of the most recent results (oldest overwritten first) and where each sits.
#: Races between threads can at worst forget a result early (``cache_info`` then says
#: ``None``), never give another object's info: a slot is checked by identity.
_ring: list[tuple[Any, Info] | None] = [None] * REMEMBERED
_slot_of: dict[int, int] = {}
_next = 0


def remember(result: Any, info: Info) -> Any:
    """Record ``info`` for ``result`` (returned unchanged)."""
    global _next
    if isinstance(result, _SHARED):
        return result
    slot = _next
    _next = (slot + 1) % REMEMBERED
    old = _ring[slot]
    if old is not None:
        ident = id(old[0])
        if _slot_of.get(ident) == slot:
            with contextlib.suppress(KeyError):
                del _slot_of[ident]
    _ring[slot] = (result, info)
    _slot_of[id(result)] = slot
    return result


def cache_info(result: Any) -> CacheInfo | None:
    """What the cache did for ``result``, a value a wrapped call returned; ``None`` for
    objects cachekit did not return (or returned more than :data:`REMEMBERED` results ago)."""
    slot = _slot_of.get(id(result))
    found = None if slot is None else _ring[slot]
    if found is None or found[0] is not result:
        return None
    info = found[1]
    if isinstance(info, CacheInfo):
        return info
    hit, key, namespace_of, age_s, similarity = info
    return CacheInfo(hit, key, namespace_of(key), age_s, similarity)
