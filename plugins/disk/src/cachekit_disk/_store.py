"""The blocking half of the disk backend: every method here does file I/O and runs
in a worker thread, never on the event loop.

Crash safety. An entry is written to a temporary file (see ``_temps``) and moved
over the entry's name with ``os.replace`` or an exchange (atomic renames): a reader
opens either the old file or the new one, never a partial one, in this process or
any other, and a writer killed at any point leaves at most a temporary file or a
spare, which the next process to look for dead owners removes (see ``_owners``).
Every file also carries its length and a CRC (see ``_format``), so damage from
outside (a crash on a filesystem that lost unsynced data, a stray file, a symlink,
FIFO or directory where an entry should be) reads as a miss and is removed.

Size cap. With ``max_size_bytes`` every write, delete and eviction updates a size
counter kept in a lock file, under an exclusive ``flock`` shared by all processes
(exact, not per-process). It counts the entry files and the spare inodes (which
keep their blocks, see ``_recycle``): what a cache directory holds on disk, but for
the temporary file each writing thread has in flight. A write that takes the total
over the cap asks for an eviction: one process at a time (a second lock) scans the
tree, picks the mtime below which the oldest files add up to the excess, and
removes them until the total is back to 90 % of the cap. A hit refreshes its
file's mtime (at most once per ``lru_resolution`` seconds), so the order is
least-recently-used, to that resolution. If writers outrun the evictor and the
total reaches 1.5x the cap, a writer evicts (or waits for the running eviction)
before it returns.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from cachekit_disk._files import (
    NotAFile,
    group_files,
    open_entry,
    read_entry_bytes,
    regular_size,
    remove_special,
    sync_dir,
)
from cachekit_disk._format import encode_entry_file, read_entry
from cachekit_disk._layout import SPARE_PREFIX, Layout, is_entry_name
from cachekit_disk._locks import FileLock, SizeCounter
from cachekit_disk._owners import Owners
from cachekit_disk._reap import Reaper
from cachekit_disk._recycle import POOL_BYTES, SparePool
from cachekit_disk._sweep import Sweeper
from cachekit_disk._temps import TempFiles

__all__ = ["FsyncPolicy", "DiskStore"]

logger = logging.getLogger("cachekit.disk")

FsyncPolicy = Literal["none", "file", "full"]

#: Past this multiple of the cap a writer evicts before it returns (back-pressure).
HARD_LIMIT = 1.5
_UTIME_FD = os.utime in os.supports_fd
#: How many times a read that lost its file to a concurrent writer reads the path again.
_REREADS = 2


class DiskStore:
    """One cache directory, accessed with blocking calls (run them in a thread)."""

    def __init__(
        self,
        directory: str,
        *,
        clock: Callable[[], float],
        fsync: FsyncPolicy,
        max_size_bytes: int | None,
        lru_resolution: float,
        file_mode: int = 0o600,
        dir_mode: int = 0o700,
    ) -> None:
        self.layout = Layout(directory)
        self._clock = clock
        self.fsync_file = fsync != "none"
        self._fsync_dir = fsync == "full"
        self.max_size_bytes = max_size_bytes
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self._lru_resolution = lru_resolution
        self._lock = FileLock(self.layout.lock_path, file_mode)
        self._counter = SizeCounter(self._lock)
        self._evict_lock = FileLock(self.layout.evict_lock_path, file_mode)
        budget = POOL_BYTES if max_size_bytes is None else min(POOL_BYTES, max_size_bytes // 16)
        self.spares = SparePool(file_mode=file_mode, budget=budget)
        self.owners = Owners(self.layout, file_mode=file_mode, dir_mode=dir_mode)
        self.temps = TempFiles(self)
        self.sweeper = Sweeper(self)
        self.reaper = Reaper(self)
        #: The size total as of this process's last look at the counter.
        self.last_total: int | None = None

    # -- reads -------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        raw, _, path = self.layout.locate(key)
        return self._read(path, raw)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        locate = self.layout.locate
        out: list[bytes | None] = []
        for key in keys:
            raw, _, path = locate(key)
            out.append(self._read(path, raw))
        return out

    def _read(self, path: str, raw_key: bytes, retries: int = _REREADS) -> bytes | None:
        try:
            opened = open_entry(path)
        except NotAFile:
            self.remove_special(path)
            return None
        if opened is None:
            return None
        fd, st = opened
        try:
            result = read_entry(read_entry_bytes(fd, st.st_size), raw_key)
            if isinstance(result, str):
                if self._discard(path, fd, key=raw_key) and retries:
                    # A writer exchanged the entry while this read ran (the inode read
                    # was recycled): the entry is at the path, read it there.
                    return self._read(path, raw_key, retries - 1)
                return None
            value, expires_at = result
            if expires_at is not None and self._clock() >= expires_at:
                self._discard(path, fd)
                return None
            if self.max_size_bytes is not None:
                self._touch(fd, path, st.st_mtime)
            return value
        finally:
            os.close(fd)

    def _touch(self, fd: int, path: str, mtime: float) -> None:
        """Mark a hit for the LRU order: refresh the mtime, at most once per resolution."""
        try:
            if time.time() - mtime >= self._lru_resolution:
                os.utime(fd if _UTIME_FD else path)
        except OSError:  # read-only media, someone else's file: recency is best effort
            pass

    def remove_special(self, path: str) -> bool:
        """Something that is not a regular file sits at an entry's name: remove it
        (never following a symlink; a directory only if empty) so that it reads as
        a miss and can be written. Returns whether it went."""
        with self._size_lock():
            gone = remove_special(path)
        if gone:
            logger.warning("cachekit-disk: removed a non-regular file at entry path %s", path)
        return gone

    def _discard(self, path: str, fd: int, *, key: bytes | None = None) -> bool:
        """Remove the file open as ``fd`` at ``path``, unless a writer replaced it;
        returns whether one did (the path holds a newer file: worth reading again).

        With ``key`` the file was read as damaged: it is checked once more first, as
        a reader that stalled while the inode was recycled (see ``_recycle``) sees a
        rewrite in progress, not damage."""
        mine = os.fstat(fd)
        with self._size_lock():
            try:
                current = os.lstat(path)
            except OSError:
                return False
            if (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
                return True
            if key is not None:
                data = read_entry_bytes(fd, os.fstat(fd).st_size)
                if not isinstance(read_entry(data, key), str):
                    return True
                logger.warning("cachekit-disk: removing damaged entry file %s", path)
            try:
                os.unlink(path)
            except OSError:
                return False
            self._adjust(-current.st_size)
            return False

    # -- writes ----------------------------------------------------------------
    def set(self, key: str, value: bytes, ttl: float | None) -> bool:
        """Store one entry; return whether the directory is now over its size cap."""
        expires_at = None if ttl is None else self._clock() + ttl
        return self._write(key, value, expires_at)

    def set_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None) -> bool:
        expires_at = None if ttl is None else self._clock() + ttl
        over = False
        for key, value in items:
            over = self._write(key, value, expires_at) or over
        return over

    def _write(self, key: str, value: bytes, expires_at: float | None) -> bool:
        raw, shard, path = self.layout.locate(key)
        blob = encode_entry_file(raw, value, expires_at)
        cap = self.max_size_bytes
        if cap is not None and len(blob) > cap:
            # It can never fit; drop any older value so it cannot be served stale.
            self._remove(path)
            return False
        for _ in range(3):
            tmp, counted = self.temps.write(shard, blob)
            try:
                try:
                    total = self._commit(tmp, path, len(blob), counted)
                except FileNotFoundError:
                    if not os.path.exists(tmp):
                        raise  # taken away (a clear, a sweep): write again
                    # A recycled inode from another directory, and the target's shard
                    # directory does not exist yet.
                    self.temps.make_dirs(shard)
                    total = self._commit(tmp, path, len(blob), counted)
            except FileNotFoundError:
                # A concurrent clear() renamed the namespace away between our temp
                # file and the rename; write again into a fresh directory.
                self._drop(tmp, counted)
                continue
            except IsADirectoryError:
                self._drop(tmp, counted)
                if remove_special(path):  # an empty directory where the entry goes
                    continue
                raise
            except BaseException:
                self._drop(tmp, counted)
                raise
            if self._fsync_dir:
                sync_dir(shard)
            if cap is None or total <= cap:
                return False
            if total > cap * HARD_LIMIT:
                self.evict(blocking=True)
                return False
            return True
        raise FileNotFoundError(f"cachekit-disk: {shard} kept disappearing while writing")

    def _commit(self, tmp: str, path: str, size: int, counted: int) -> int:
        """Move ``tmp`` (of which ``counted`` bytes are in the size counter) over
        ``path``; return the new size total (0 without a cap). The old entry
        becomes a spare (zeroed) when the pool has room, else it is freed."""
        spares = self.spares
        owner = self.owners.token
        if self.max_size_bytes is None:
            if spares.exchange(tmp, path):
                spares.keep(tmp, owner)
            else:
                os.replace(tmp, path)
            return 0
        with self._lock:
            total = self._load_total()
            old = regular_size(path)
            if old > 0 and spares.room_for(old) and spares.exchange(tmp, path):
                total += size - counted  # the old inode stays, as a counted spare …
                if spares.keep(tmp, owner) is None:
                    total -= old  # … unless it was freed after all
            else:
                os.replace(tmp, path)
                total += size - counted - old
            self._counter.write(total)
        self.last_total = total
        return total

    def _drop(self, tmp: str, counted: int) -> None:
        """Remove a temporary file that will not be committed."""
        try:
            os.unlink(tmp)
        except OSError:
            return
        if counted:
            with self._size_lock():
                self._adjust(-counted)

    def delete(self, key: str) -> bool:
        _, _, path = self.layout.locate(key)
        return self._remove(path)

    def _remove(self, path: str) -> bool:
        """Delete an entry file: its inode becomes a spare (zeroed) when the pool
        has room, else it is freed. No copy of its bytes is left either way."""
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if not stat.S_ISREG(st.st_mode):
            self.remove_special(path)
            return False
        spares = self.spares
        owner = self.owners.claim()
        with self._size_lock():
            if self.max_size_bytes is not None:
                try:
                    size = os.lstat(path).st_size
                except (FileNotFoundError, NotADirectoryError):
                    return False
            else:
                size = st.st_size
            spare = spares.retire(path, owner) if spares.room_for(size) else None
            if spare is not None:
                if spares.keep(spare, owner) is None:
                    self._adjust(-size)
                return True
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                return False
            self._adjust(-size)
        return True

    # -- size accounting -----------------------------------------------------------
    def _size_lock(self) -> FileLock | _NoLock:
        return self._lock if self.max_size_bytes is not None else _NO_LOCK

    def _load_total(self) -> int:
        """The counter's total (lock held); recounted when the file holds none yet."""
        total = self._counter.read()
        if total is None:
            total = sum(size for _, size, _ in self.scan_sizes())
            self._counter.write(total)
        return total

    def _adjust(self, delta: int) -> None:
        """Add ``delta`` to the counter (lock held; no-op without a cap)."""
        if self.max_size_bytes is None or delta == 0:
            return
        total = self._load_total() + delta
        self._counter.write(total)
        self.last_total = total

    def adjust(self, delta: int) -> None:
        """Add ``delta`` to the counter, taking the lock (no-op without a cap)."""
        if self.max_size_bytes is not None and delta:
            with self._lock:
                self._adjust(delta)

    def scan_sizes(self) -> Iterator[tuple[float, int, bool]]:
        """``(mtime, size, is_entry)`` of every file the counter counts: the entry
        files and the spares."""
        for group, _ in self.layout.group_dirs():
            for item in group_files(group):
                name = item.name
                entry = is_entry_name(name)
                if entry or name.startswith(SPARE_PREFIX):
                    try:
                        st = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        yield st.st_mtime, st.st_size, entry

    def _counter_total(self) -> int:
        with self._lock:
            total = self._load_total()
        self.last_total = total
        return total

    # -- sweeps (see _sweep, _reap) ------------------------------------------------
    def evict(self, *, blocking: bool = False) -> int:
        """Evict down to 90 % of the cap, oldest first; see :meth:`Sweeper.evict`."""
        return self.sweeper.evict(blocking=blocking)

    def clear(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; see :meth:`Sweeper.clear`."""
        return self.sweeper.clear(prefix)

    def prune(self) -> int:
        """Remove expired, damaged and orphaned files; see :meth:`Reaper.prune`."""
        return self.reaper.prune()

    def reap(self) -> int:
        """Remove what dead writers left; see :meth:`Reaper.reap`."""
        return self.reaper.reap()

    def close(self) -> None:
        """Remove the spare inodes, give up the owner claim and release the lock
        files (blocking: run in a thread). The store may be used again."""
        freed = self.spares.drain()
        if freed and os.path.exists(self.layout.lock_path):
            self.adjust(-freed)
        self.owners.release()
        self._lock.close()
        self._evict_lock.close()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
