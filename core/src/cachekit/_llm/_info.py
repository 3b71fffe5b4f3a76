"""``cache_info(response)``: whether a result came from the cache, without an observer.

The wrapper records what it knows about each result it returns (whole responses
and stream objects) in a small identity map: the most recent results, strong
references, bounded (:data:`REMEMBERED`). Identity, not equality: two equal
responses, one fresh and one cached, are told apart. Plain values (a ``str``, an
``int``) that may be shared by unrelated code are not recorded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

__all__ = ["REMEMBERED", "CacheInfo", "cache_info", "remember"]

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


#: Insertion-ordered: the oldest first. Races between threads can at worst evict an
#: entry early (``cache_info`` then says ``None``), never give another object's info.
_results: dict[int, tuple[Any, CacheInfo]] = {}


def remember(result: Any, info: CacheInfo) -> Any:
    """Record ``info`` for ``result`` (returned unchanged)."""
    if isinstance(result, _SHARED):
        return result
    ident = id(result)
    _results.pop(ident, None)
    _results[ident] = (result, info)
    if len(_results) > REMEMBERED:
        with contextlib.suppress(StopIteration, KeyError, RuntimeError):
            del _results[next(iter(_results))]
    return result


def cache_info(result: Any) -> CacheInfo | None:
    """What the cache did for ``result``, a value a wrapped call returned; ``None`` for
    objects cachekit did not return (or returned more than :data:`REMEMBERED` results ago)."""
    found = _results.get(id(result))
    if found is None or found[0] is not result:
        return None
    return found[1]
