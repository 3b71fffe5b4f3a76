"""``Usage``: what one namespace holds in a backend (``AsyncBackend.usage``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Entries stored under a prefix and the bytes of their stored values.

    ``bytes`` counts the values as the core handed them to ``set`` (the entry
    envelope, encrypted when the cache encrypts), not keys, metadata or the store's
    own overhead, so the figure means the same on every backend. ``note`` says what
    the count includes where a backend cannot be exact (for example entries past
    their lifetime that the store has not removed yet)."""

    entries: int
    bytes: int
    note: str = ""

    def as_dict(self) -> dict[str, int | str]:
        return {"entries": self.entries, "bytes": self.bytes, "note": self.note}
