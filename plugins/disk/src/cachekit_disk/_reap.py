"""Removing what nobody will finish: the temporary files and spares of writers that
died, the trash of cleared namespaces, and (``prune``) expired and damaged entries.

Dead writers. Each writing store holds a flocked marker in ``.owners/`` (see
``_owners``). :meth:`Reaper.reap` lists that small directory and tries each other
marker's lock without blocking: only when it gets one (its owner is dead) does it
walk the tree and remove that owner's ``.tmp.*`` and ``.spare.*`` files and trash,
then the marker. The backend runs it in its background thread when a store first
claims a directory and every ``CHECK_INTERVAL`` seconds while it keeps writing, so
a cache shared by processes that get killed (OOM, deploys, SIGKILL) cleans up
after them without anyone calling ``prune``; a sweep costs a tree walk only when
someone died.

Cleared namespaces. ``clear`` renames the namespace directory to
``.trash-<owner>.<n>``, takes every permission off it at once, and deletes it
before it returns; the trash of a clear cut short (a killed process) goes with the
next clear, prune or reap.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from typing import TYPE_CHECKING

from cachekit_disk._files import NotAFile, group_files, next_name, open_entry, remove_special
from cachekit_disk._format import HEADER_SIZE, parse_header
from cachekit_disk._layout import (
    SPARE_PREFIX,
    TEMP_PREFIX,
    TRASH_PREFIX,
    is_entry_name,
    shard_dirs,
)

if TYPE_CHECKING:
    from cachekit_disk._owners import Liveness
    from cachekit_disk._store import DiskStore

__all__ = ["Reaper"]

_LEFTOVER_PREFIXES = (TEMP_PREFIX, SPARE_PREFIX)


class Reaper:
    """Dead writers' files, trash and the ``prune`` pass over one store."""

    def __init__(self, store: DiskStore) -> None:
        self._store = store

    # -- dead writers ------------------------------------------------------------
    def reap(self) -> int:
        """Remove the files of owners that died; return how many went. Cheap (one
        small directory listing) unless someone died. Then, as the whole tree was
        walked anyway, recount the size total (a writer killed mid-write leaves it
        off) and evict if the directory is over its cap."""
        store = self._store
        store.owners.checked()
        if not os.path.isdir(store.layout.root):
            return 0
        store.owners.sweep_hidden()
        live = store.owners.liveness()
        try:
            if not live.dead_markers():
                return 0
            before = store._counter_total() if store.max_size_bytes is not None else 0
            removed, kept, gone = self._walk(live, None)
            for trash in store.layout.trash_dirs():
                if live.trash_stale(os.path.basename(trash)):
                    self.delete_tree(trash)
                    removed += 1
            live.bury()
        finally:
            live.close()
        if store.max_size_bytes is not None:
            store.sweeper._reconcile(kept, before - gone)
            store.evict(blocking=True)
        return removed

    def _walk(self, live: Liveness, now: float | None) -> tuple[int, int, int]:
        """One pass over every shard: remove dead owners' temporary files and
        spares and, given ``now`` (``prune``), expired and damaged entries. Returns
        the files removed, the bytes kept that the counter counts (entries and
        spares) and the counted bytes removed."""
        removed = kept = gone = 0
        for group, _ in list(self._store.layout.group_dirs()):
            for item in group_files(group):
                name = item.name
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                regular = stat.S_ISREG(st.st_mode)
                if name.startswith(_LEFTOVER_PREFIXES):
                    counted = regular and name.startswith(SPARE_PREFIX)
                    if self._remove_leftover(item, live):
                        if now is None:  # reap counts files; prune counts entries
                            removed += 1
                        gone += st.st_size if counted else 0
                    elif counted:
                        kept += st.st_size
                    continue
                if not is_entry_name(name):
                    continue  # not ours: leave it alone
                if now is not None and self._prune_entry(item.path, now):
                    removed += 1
                    gone += st.st_size if regular else 0
                elif regular:
                    kept += st.st_size
        return removed, kept, gone

    def _remove_leftover(self, item: os.DirEntry[str], live: Liveness) -> int:
        """Remove a temporary or spare file if its owner is dead; spares are in
        the size counter, so it goes down with them. Returns 1 if it went."""
        store = self._store
        try:
            st = item.stat(follow_symlinks=False)
        except FileNotFoundError:
            return 0
        if not live.stale(item.name, st.st_mtime):
            return 0
        counted = item.name.startswith(SPARE_PREFIX) and stat.S_ISREG(st.st_mode)
        with store._size_lock():
            try:
                os.unlink(item.path)
            except IsADirectoryError:  # a directory swapped out of an entry's place
                return int(remove_special(item.path))  # only if empty, as on reads
            except OSError:
                return 0
            if counted:
                store._adjust(-st.st_size)
        return 1

    # -- trash ---------------------------------------------------------------------
    def clear_group(self, group: str) -> int:
        """Clear a whole namespace: rename it away atomically, make it unreadable,
        then delete it. Returns the number of entries it held."""
        store = self._store
        if not os.path.isdir(group):
            return 0
        owner = store.owners.claim()
        trash = os.path.join(store.layout.root, f"{TRASH_PREFIX}{owner}.{next_name()}")
        try:
            os.rename(group, trash)
        except FileNotFoundError:
            return 0
        with contextlib.suppress(OSError):
            os.chmod(trash, 0)  # nothing under it can be reached from here on
        return self.delete_tree(trash)

    def delete_tree(self, trash: str) -> int:
        """Delete a renamed-away namespace directory; return the entries it held."""
        store = self._store
        with contextlib.suppress(OSError):
            os.chmod(trash, store.dir_mode)  # ours to list again, to delete it
        count = size = 0
        for shard in shard_dirs(trash):
            try:
                files = list(os.scandir(shard))
            except FileNotFoundError:
                continue
            for item in files:
                try:
                    st = item.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(item.path, ignore_errors=True)
                        continue
                    os.unlink(item.path)
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if is_entry_name(item.name):
                    count += 1
                    size += st.st_size
                elif item.name.startswith(SPARE_PREFIX):
                    size += st.st_size
            with contextlib.suppress(OSError):
                os.rmdir(shard)
        try:
            os.rmdir(trash)
        except FileNotFoundError:
            pass
        except OSError:  # something that was not ours in there: it goes too
            shutil.rmtree(trash, ignore_errors=True)
        with store._size_lock():
            store._adjust(-size)
        return count

    def empty_trash(self) -> int:
        return sum(self.delete_tree(t) for t in self._store.layout.trash_dirs())

    # -- prune -------------------------------------------------------------------
    def prune(self) -> int:
        """Remove expired and damaged entries (and whatever is not a regular file
        at an entry's name), the temporary files and spares of dead writers and the
        leftovers of interrupted clears; recount the size total and evict if the
        directory is over its cap. Returns the number of entries removed (expired,
        damaged or evicted)."""
        store = self._store
        if not os.path.isdir(store.layout.root):
            return 0
        store.owners.checked()
        store.owners.sweep_hidden()
        self.empty_trash()
        before = store._counter_total() if store.max_size_bytes is not None else 0
        live = store.owners.liveness()
        try:
            live.dead_markers()
            removed, kept, gone = self._walk(live, store._clock())
            live.bury()
        finally:
            live.close()
        if store.max_size_bytes is not None:
            store.sweeper._reconcile(kept, before - gone)
            removed += store.evict(blocking=True)
        return removed

    def _prune_entry(self, path: str, now: float) -> bool:
        """Remove one entry file if it is expired or damaged (or not a regular
        file at all); return whether it went."""
        store = self._store
        try:
            opened = open_entry(path)
        except NotAFile:
            return store.remove_special(path)
        except OSError:
            return False
        if opened is None:
            return False
        fd, st = opened
        try:
            header = parse_header(os.pread(fd, HEADER_SIZE, 0))
            if (
                header is not None
                and header.file_size == st.st_size
                and (header.expires_at is None or now < header.expires_at)
            ):
                return False
            store._discard(path, fd)
            return True
        finally:
            os.close(fd)
