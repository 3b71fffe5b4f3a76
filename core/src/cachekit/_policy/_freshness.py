"""Freshness rules for stored entries: when a stale entry may still be used, and how
long a backend keeps an entry (RFC 5861's ``stale-while-revalidate`` and
``stale-if-error``, applied to LLM calls). Pure: no I/O.

An entry is *fresh* until ``expires_at`` (its TTL). Past it, a reader may use it for
at most its stale window — the smaller of the reader's windows and the window the
writer recorded (``meta["stale_s"]``), because the backend was told to keep the entry
only ``ttl + stale_s`` seconds. Entries written without a window (older cachekit
versions included) are never used stale.
"""

from __future__ import annotations

from cachekit._policy._controls import CacheControls
from cachekit._policy._envelope import Entry

__all__ = ["keep_for", "stale_state"]


def stale_state(entry: Entry, now: float, controls: CacheControls) -> bool:
    """Whether an entry past its freshness may still be used, and how (marked on it):
    within ``stale-while-revalidate`` it is served (``stale_s`` set); within only
    ``stale-if-error`` it is held (``held`` too). Both windows are bounded by how long
    the writer kept it (:attr:`Entry.stale_bound`). Off the hot path: only expired
    entries get here."""
    swr = controls.stale_while_revalidate
    sie = controls.stale_if_error
    if not swr and not sie:
        return False
    late = now - entry.expires_at  # type: ignore[operator]
    if late >= entry.stale_bound:
        return False
    entry.stale_s = late or 1e-9  # past its freshness by "now >= expires_at"
    if swr is not None and late < swr:
        return True
    entry.held = sie is not None and late < sie
    return entry.held


def keep_for(ttl: float | None, stale: float) -> float | None:
    """How long the backend keeps an entry: its freshness plus its stale window."""
    return ttl if ttl is None or not stale else ttl + stale
