"""Sweeps of a cache directory: eviction to the size cap, scoped clears, and the
``prune`` maintenance pass. All blocking; the backend runs them in worker threads
(evictions in its background thread).

Eviction: one process at a time (a second lock file) scans the tree for the entry
files' sizes and mtimes, picks the mtime below which the oldest files add up to the
excess over 90 % of the cap, and removes files at or below it, checking each one's
mtime again under the size lock so that an entry hit or rewritten since the scan
survives. Rewritten files get new mtimes, so a pass may free less than it aimed at;
it goes again while the total is still over the cap (a few times at most).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from cachekit_disk._files import (
    READ_FLAGS,
    group_files,
    is_stale_temp,
    next_name,
    read_head,
    unlink_quiet,
)
from cachekit_disk._format import HEADER_SIZE, parse_header
from cachekit_disk._layout import TEMP_PREFIX, TRASH_PREFIX, is_entry_name, shard_dirs, split_key

if TYPE_CHECKING:
    from cachekit_disk._store import DiskStore

__all__ = ["LOW_WATER", "Sweeper"]

#: Eviction brings the total down to this fraction of the cap (hysteresis, so one
#: scan pays for many writes).
LOW_WATER = 0.9


class Sweeper:
    """Eviction, clear and prune over one :class:`DiskStore`."""

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
            if total == before:
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
                for mtime, size in store._scan_sizes():
                    mtimes.append(mtime)
                    sizes.append(size)
                excess = self._reconcile(sum(sizes), before) - int(cap * LOW_WATER)
                if excess <= 0 or not mtimes:
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
                        st = os.stat(path)
                        if st.st_mtime > cutoff:
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
        namespace, rest = split_key(prefix)
        self._empty_trash()  # leftovers of an interrupted clear (already not visible)
        removed = 0
        if namespace is not None:
            group = store.layout.namespace_dir(namespace)
            if rest == "":
                return self._clear_group(group)
            return self._clear_matching(group, prefix)
        for group, group_namespace in list(store.layout.group_dirs()):
            if group_namespace is None:
                removed += self._clear_matching(group, prefix)
            elif f"cachekit:v1:{group_namespace}:".startswith(prefix):
                removed += self._clear_group(group)
        return removed

    def _clear_group(self, group: str) -> int:
        """Clear a whole namespace: rename it away atomically, then delete it."""
        store = self._store
        trash = os.path.join(store.layout.root, f"{TRASH_PREFIX}{os.getpid()}.{next_name()}")
        try:
            os.rename(group, trash)
        except FileNotFoundError:
            return 0
        return self._delete_tree(trash)

    def _delete_tree(self, trash: str) -> int:
        """Delete a renamed-away namespace directory; return the entries it held."""
        store = self._store
        count = size = 0
        for shard in shard_dirs(trash):
            try:
                files = list(os.scandir(shard))
            except FileNotFoundError:
                continue
            for item in files:
                try:
                    st = item.stat(follow_symlinks=False)
                    os.unlink(item.path)
                except FileNotFoundError:
                    continue
                if is_entry_name(item.name):
                    count += 1
                    size += st.st_size
            with contextlib.suppress(OSError):
                os.rmdir(shard)
        with contextlib.suppress(OSError):
            os.rmdir(trash)
        with store._size_lock():
            store._adjust(-size)
        return count

    def _empty_trash(self) -> int:
        store = self._store
        return sum(self._delete_tree(t) for t in store.layout.trash_dirs())

    def _clear_matching(self, group: str, prefix: str) -> int:
        """Remove the entries of one directory whose stored key starts with ``prefix``."""
        store = self._store
        wanted = prefix.encode("utf-8", "surrogatepass")
        removed = 0
        for item in group_files(group):
            if not is_entry_name(item.name):
                continue
            try:
                fd = os.open(item.path, READ_FLAGS)
            except OSError:
                continue
            try:
                head = read_head(fd)
                if head is None or not head[1].startswith(wanted):
                    continue
                mine = os.fstat(fd)
            finally:
                os.close(fd)
            with store._size_lock():
                try:
                    current = os.stat(item.path)
                    if (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
                        # Rewritten since we looked: the new file holds the same key.
                        mine = current
                    os.unlink(item.path)
                except FileNotFoundError:
                    continue
                store._adjust(-mine.st_size)
            removed += 1
        return removed

    # -- sweep -------------------------------------------------------------------
    def prune(self) -> int:
        """Remove expired and damaged entries, stale temporary files of crashed
        writers and leftovers of interrupted clears; recount the size total and
        evict if the directory is over its cap. Returns the number of entries
        removed (expired, damaged or evicted)."""
        store = self._store
        if not os.path.isdir(store.layout.root):
            return 0
        self._empty_trash()
        before = store._counter_total() if store.max_size_bytes is not None else 0
        now = store._clock()
        removed = live = gone = 0
        for group, _ in list(store.layout.group_dirs()):
            for item in group_files(group):
                name = item.name
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if name.startswith(TEMP_PREFIX):
                    if is_stale_temp(name, st.st_mtime):
                        unlink_quiet(item.path)
                    continue
                if not is_entry_name(name):
                    continue  # not ours: leave it alone
                if self._prune_entry(item.path, now):
                    removed += 1
                    gone += st.st_size
                else:
                    live += st.st_size
        if store.max_size_bytes is not None:
            self._reconcile(live, before - gone)
            removed += self.evict(blocking=True)
        return removed

    def _prune_entry(self, path: str, now: float) -> bool:
        """Remove one entry file if it is expired or damaged; return whether it went."""
        store = self._store
        try:
            fd = os.open(path, READ_FLAGS)
        except OSError:
            return False
        try:
            header = parse_header(os.pread(fd, HEADER_SIZE, 0))
            if (
                header is not None
                and header.file_size == os.fstat(fd).st_size
                and (header.expires_at is None or now < header.expires_at)
            ):
                return False
            store._discard(path, fd)
            return True
        finally:
            os.close(fd)
