"""Sweeps of a cache directory: eviction to the size cap and scoped clears (the
``prune`` pass and the removal of dead writers' files are in ``_reap``). All
blocking; the backend runs them in worker threads (evictions in its background
thread).

Eviction: one process at a time (a second lock file) scans the tree for the entry
files' sizes and mtimes (and the spares', which count toward the cap), picks the
mtime below which the oldest entries add up to the excess over 90 % of the cap,
and removes entries at or below it, checking each one's mtime again under the size
lock so that an entry hit or rewritten since the scan survives. Rewritten files get
new mtimes, so a pass may free less than it aimed at; it goes again while the total
is still over the cap (a few times at most), and drops this store's own spares if
entries alone cannot bring it down.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from cachekit_disk._files import NotAFile, group_files, open_entry, read_head
from cachekit_disk._layout import is_entry_name, split_key

if TYPE_CHECKING:
    from cachekit_disk._store import DiskStore

__all__ = ["LOW_WATER", "Sweeper"]

#: Eviction brings the total down to this fraction of the cap (hysteresis, so one
#: scan pays for many writes).
LOW_WATER = 0.9


class Sweeper:
    """Eviction and clear over one :class:`DiskStore`."""

    def __init__(self, store: DiskStore) -> None:
        self._store = store

    def _reconcile(self, scanned: int, before: int) -> int:
        """Set the counter to a scanned total if nobody changed it while the scan ran
        (``before``: the counter when the scan started). The counter is exact unless a
        process died between a rename and its counter update, or files were changed
        behind cachekit's back; a quiet scan repairs that."""
        store = self._store
        with store._lock:
            total = store._load_total()
            if total == before and total != scanned:
                store._counter.write(scanned)
                total = scanned
        store.last_total = total
        return total

    # -- eviction --------------------------------------------------------------
    def evict(self, *, blocking: bool = False) -> int:
        """Bring the directory back under its cap (to 90 % of it), oldest files first.

        One process evicts at a time; without ``blocking`` a call returns 0 at once
        when another eviction is running. Returns the number of entries removed.
        """
        store = self._store
        cap = store.max_size_bytes
        if cap is None or not os.path.isdir(store.layout.root):
            return 0
        if not store._evict_lock.acquire(blocking):
            return 0
        removed = 0
        try:
            # Writers may refill the directory while a pass runs (and rewritten files
            # get new mtimes, so a pass can free less than it aimed at): go again
            # while the total is still over the cap, a few times at most.
            for _ in range(4):
                before = store._counter_total()
                if before <= cap:
                    break
                mtimes: list[float] = []
                sizes: list[int] = []
                scanned = 0
                for mtime, size, entry in store.scan_sizes():
                    scanned += size
                    if entry:
                        mtimes.append(mtime)
                        sizes.append(size)
                excess = self._reconcile(scanned, before) - int(cap * LOW_WATER)
                if excess <= 0:
                    break
                if not mtimes or (excess > sum(sizes) and len(store.spares)):
                    # Entries alone cannot do it: this store's spares go too.
                    store.adjust(-store.spares.drain())
                    if not mtimes:
                        break
                cutoff = mtimes[0]
                acc = 0
                for i in sorted(range(len(mtimes)), key=mtimes.__getitem__):
                    acc += sizes[i]
                    cutoff = mtimes[i]
                    if acc >= excess:
                        break
                del mtimes, sizes
                removed += self._remove_older(cutoff, excess)
        finally:
            store._evict_lock.release()
        return removed

    def _remove_older(self, cutoff: float, goal: int) -> int:
        """Remove entry files whose mtime is ``<= cutoff`` until ``goal`` bytes are freed.
        Each file's mtime is checked again under the size lock, so an entry hit or
        rewritten since the scan survives."""
        store = self._store
        freed = removed = 0
        batch: list[str] = []

        def flush() -> None:
            nonlocal freed, removed
            with store._lock:
                gone = 0
                for path in batch:
                    try:
                        st = os.lstat(path)
                        if st.st_mtime > cutoff or not stat.S_ISREG(st.st_mode):
                            continue
                        os.unlink(path)
                    except OSError:
                        continue
                    gone += st.st_size
                    removed += 1
                store._adjust(-gone)
            freed += gone
            batch.clear()

        for group, _ in store.layout.group_dirs():
            for item in group_files(group):
                if not is_entry_name(item.name):
                    continue
                try:
                    if item.stat(follow_symlinks=False).st_mtime > cutoff:
                        continue
                except FileNotFoundError:
                    continue
                batch.append(item.path)
                if len(batch) >= 64:
                    flush()
                    if freed >= goal:
                        return removed
        if batch:
            flush()
        return removed

    # -- clear -------------------------------------------------------------------
    def clear(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; return how many files went."""
        store = self._store
        reaper = store.reaper
        namespace, rest = split_key(prefix)
        reaper.empty_trash()  # leftovers of an interrupted clear (already not visible)
        removed = 0
        if namespace is not None:
            group = store.layout.namespace_dir(namespace)
            if rest == "":
                return reaper.clear_group(group)
            return self._clear_matching(group, prefix)
        for group, group_namespace in list(store.layout.group_dirs()):
            if group_namespace is None:
                removed += self._clear_matching(group, prefix)
            elif f"cachekit:v2:{group_namespace}:".startswith(prefix):
                removed += reaper.clear_group(group)
        return removed

    def _clear_matching(self, group: str, prefix: str) -> int:
        """Remove the entries of one directory whose stored key starts with ``prefix``."""
        store = self._store
        wanted = prefix.encode("utf-8", "surrogatepass")
        removed = 0
        for item in group_files(group):
            if not is_entry_name(item.name):
                continue
            try:
                opened = open_entry(item.path)
            except (NotAFile, OSError):
                continue
            if opened is None:
                continue
            fd, mine = opened
            try:
                head = read_head(fd, mine.st_size)
            finally:
                os.close(fd)
            if head is None or not head[1].startswith(wanted):
                continue
            with store._size_lock():
                try:
                    current = os.lstat(item.path)
                    if (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
                        # Rewritten since we looked: the new file holds the same key.
                        mine = current
                    os.unlink(item.path)
                except FileNotFoundError:
                    continue
                store._adjust(-mine.st_size)
            removed += 1
        return removed
