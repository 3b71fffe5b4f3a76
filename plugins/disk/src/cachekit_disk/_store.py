"""The blocking half of the disk backend: every method here does file I/O and runs
in a worker thread, never on the event loop.

Crash safety. An entry is written to a temporary file (an unnamed ``O_TMPFILE``
inode on Linux, a recycled one when available, see ``_recycle``) and moved over the
entry's name with ``os.replace`` (an atomic rename on POSIX and on Windows): a reader
opens either the old file or the new one, never a partial one, in this process or
any other, and a writer killed at any point leaves at most a temporary file, which
:meth:`DiskStore.prune` removes once its process is gone.
Every file also carries its length and a CRC (see ``_format``), so damage from
outside (a crash on a filesystem that lost unsynced data, a stray file) reads as a
miss and is removed.

Size cap. With ``max_size_bytes`` every write, delete and eviction updates a size
counter kept in a lock file, under an exclusive ``flock`` shared by all processes
(exact, not per-process). A write that takes the total over the cap asks for an
eviction: one process at a time (a second lock) scans the tree, picks the mtime
below which the oldest files add up to the excess, and removes them until the total
is back to 90 % of the cap. A hit refreshes its file's mtime (at most once per
``lru_resolution`` seconds), so the order is least-recently-used, to that
resolution. If writers outrun the evictor and the total reaches 1.5x the cap, a
writer evicts (or waits for the running eviction) before it returns.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from cachekit_disk._files import (
    READ_FLAGS,
    group_files,
    next_name,
    read_all,
    root_fd,
    unlink_quiet,
)
from cachekit_disk._format import (
    encode_entry_file,
    read_entry,
)
from cachekit_disk._layout import (
    TEMP_PREFIX,
    Layout,
    is_entry_name,
)
from cachekit_disk._locks import FileLock, SizeCounter
from cachekit_disk._recycle import SparePool
from cachekit_disk._sweep import Sweeper

__all__ = ["FsyncPolicy", "DiskStore"]

logger = logging.getLogger("cachekit.disk")

FsyncPolicy = Literal["none", "file", "full"]

#: Past this multiple of the cap a writer evicts before it returns (back-pressure).
HARD_LIMIT = 1.5
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_TMPFILE_FLAGS = (_O_TMPFILE | os.O_WRONLY | _O_CLOEXEC) if _O_TMPFILE else 0
_UTIME_FD = os.utime in os.supports_fd


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
    ) -> None:
        self.layout = Layout(directory)
        self._clock = clock
        self._fsync_file = fsync != "none"
        self._fsync_dir = fsync == "full"
        self.max_size_bytes = max_size_bytes
        self._lru_resolution = lru_resolution
        self._lock = FileLock(self.layout.lock_path)
        self._counter = SizeCounter(self._lock)
        self._evict_lock = FileLock(self.layout.evict_lock_path)
        self._root_ready = False
        self._spares = SparePool()
        self.sweeper = Sweeper(self)
        self._use_tmpfile = _TMPFILE_FLAGS != 0 and os.path.isdir("/proc/self/fd")
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

    def _read(self, path: str, raw_key: bytes) -> bytes | None:
        try:
            fd = os.open(path, READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            result = read_entry(read_all(fd), raw_key)
            if isinstance(result, str):
                self._discard(path, fd, key=raw_key)
                return None
            value, expires_at = result
            if expires_at is not None and self._clock() >= expires_at:
                self._discard(path, fd)
                return None
            if self.max_size_bytes is not None:
                self._touch(fd, path)
            return value
        finally:
            os.close(fd)

    def _touch(self, fd: int, path: str) -> None:
        """Mark a hit for the LRU order: refresh the mtime, at most once per resolution."""
        try:
            if time.time() - os.fstat(fd).st_mtime >= self._lru_resolution:
                os.utime(fd if _UTIME_FD else path)
        except OSError:  # read-only media, someone else's file: recency is best effort
            pass

    def _discard(self, path: str, fd: int, *, key: bytes | None = None) -> None:
        """Remove the file open as ``fd`` at ``path``, unless a writer replaced it.

        With ``key`` the file was read as damaged: it is checked once more first, as
        a reader that stalled while the inode was recycled (see ``_recycle``) sees a
        rewrite in progress, not damage."""
        mine = os.fstat(fd)
        with self._size_lock():
            try:
                current = os.stat(path)
            except OSError:
                return
            if (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
                return
            if key is not None:
                os.lseek(fd, 0, os.SEEK_SET)
                if not isinstance(read_entry(read_all(fd), key), str):
                    return
                logger.warning("cachekit-disk: removing damaged entry file %s", path)
            try:
                os.unlink(path)
            except OSError:
                return
            self._adjust(-mine.st_size)

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
            tmp = self._write_temp(shard, blob)
            try:
                try:
                    total = self._commit(tmp, path, len(blob))
                except FileNotFoundError:
                    if not os.path.exists(tmp):
                        raise
                    # A recycled inode from another directory, and the target's shard
                    # directory does not exist yet.
                    os.makedirs(shard, exist_ok=True)
                    total = self._commit(tmp, path, len(blob))
            except FileNotFoundError:
                # A concurrent clear() renamed the namespace away between our temp
                # file and the rename; write again into a fresh directory.
                unlink_quiet(tmp)
                continue
            except BaseException:
                unlink_quiet(tmp)
                raise
            if self._fsync_dir:
                self._sync_dir(shard)
            if cap is None or total <= cap:
                return False
            if total > cap * HARD_LIMIT:
                self.evict(blocking=True)
                return False
            return True
        raise FileNotFoundError(f"cachekit-disk: {shard} kept disappearing while writing")

    def _write_temp(self, shard: str, blob: bytes) -> str:
        """Write ``blob`` to a new temporary file in ``shard``; return its name.

        On Linux the data goes into an unnamed ``O_TMPFILE`` inode first and gets a
        name only once complete (a writer killed before that leaves nothing behind),
        and creating a named inode was measured at ~0.3-0.9 ms on the benchmark
        machine against ~0.04 ms for ``O_TMPFILE`` + ``link``. Elsewhere, or on a
        filesystem without ``O_TMPFILE``, a named ``O_EXCL`` temporary file is used.
        """
        spare = self._spares.take()
        if spare is not None and self._spares.rewrite(spare, blob, self._fsync_file):
            return spare
        if not self._root_ready:
            os.makedirs(self.layout.root, exist_ok=True)
            self._root_ready = True
        if self._use_tmpfile:
            fd = self._open_unnamed(shard)
            if fd is not None:
                try:
                    self._fill(fd, blob)
                    return self._link_unnamed(fd, shard)
                finally:
                    os.close(fd)
        while True:
            tmp = f"{shard}{os.sep}{TEMP_PREFIX}{os.getpid()}.{next_name()}"
            try:
                fd = os.open(tmp, _CREATE_FLAGS, 0o666)
            except FileNotFoundError:
                os.makedirs(shard, exist_ok=True)
                continue
            except FileExistsError:  # left by a dead process that had our pid
                unlink_quiet(tmp)
                continue
            break
        try:
            self._fill(fd, blob)
        except BaseException:
            os.close(fd)
            unlink_quiet(tmp)
            raise
        os.close(fd)
        return tmp

    def _fill(self, fd: int, blob: bytes) -> None:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view) :]
        if self._fsync_file:
            os.fsync(fd)

    def _open_unnamed(self, shard: str) -> int | None:
        """An ``O_TMPFILE`` descriptor in ``shard``, or ``None`` (not supported here)."""
        while True:
            try:
                return os.open(shard, _TMPFILE_FLAGS, 0o666)
            except FileNotFoundError:
                os.makedirs(shard, exist_ok=True)
            except OSError as exc:
                if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    self._use_tmpfile = False  # this filesystem cannot: named temps
                    return None
                raise

    def _link_unnamed(self, fd: int, shard: str) -> str:
        while True:
            tmp = f"{shard}{os.sep}{TEMP_PREFIX}{os.getpid()}.{next_name()}"
            try:
                # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N names the unnamed inode;
                # os.link uses linkat (not link(2), which would not follow) only when
                # given a dir fd, hence "/" as one ("self" is resolved at each call,
                # so this stays right after fork()).
                os.link(f"proc/self/fd/{fd}", tmp, src_dir_fd=root_fd(), follow_symlinks=True)
            except FileExistsError:  # left by a dead process that had our pid
                unlink_quiet(tmp)
                continue
            return tmp

    def _commit(self, tmp: str, path: str, size: int) -> int:
        """Move ``tmp`` over ``path``; return the new size total (0 without a cap)."""
        if self.max_size_bytes is None:
            if not self._spares.exchange(tmp, path):
                os.replace(tmp, path)
            return 0
        with self._lock:
            total = self._load_total()
            try:
                old = os.stat(path).st_size
            except FileNotFoundError:
                old = 0
            if not self._spares.exchange(tmp, path):
                os.replace(tmp, path)
            total += size - old
            self._counter.write(total)
        self.last_total = total
        return total

    def _sync_dir(self, directory: str) -> None:
        if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
            return
        fd = os.open(directory, os.O_RDONLY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, key: str) -> bool:
        _, _, path = self.layout.locate(key)
        return self._remove(path)

    def _remove(self, path: str) -> bool:
        """Delete an entry file (recycling its inode when the pool has room)."""
        directory = os.path.dirname(path)
        if self.max_size_bytes is None:
            if self._spares.retire(path, directory):
                return True
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                return False
            return True
        with self._size_lock():
            try:
                size = os.stat(path).st_size
            except (FileNotFoundError, NotADirectoryError):
                return False
            if not self._spares.retire(path, directory):
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
            total = sum(size for _, size in self._scan_sizes())
            self._counter.write(total)
        return total

    def _adjust(self, delta: int) -> None:
        """Add ``delta`` to the counter (lock held; no-op without a cap)."""
        if self.max_size_bytes is None or delta == 0:
            return
        total = self._load_total() + delta
        self._counter.write(total)
        self.last_total = total

    def _scan_sizes(self) -> Iterator[tuple[float, int]]:
        """``(mtime, size)`` of every entry file."""
        for group, _ in self.layout.group_dirs():
            for item in group_files(group):
                if is_entry_name(item.name):
                    try:
                        st = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield st.st_mtime, st.st_size

    def _counter_total(self) -> int:
        with self._lock:
            total = self._load_total()
        self.last_total = total
        return total

    # -- sweeps (see _sweep) ------------------------------------------------------
    def evict(self, *, blocking: bool = False) -> int:
        """Evict down to 90 % of the cap, oldest first; see :meth:`Sweeper.evict`."""
        return self.sweeper.evict(blocking=blocking)

    def clear(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; see :meth:`Sweeper.clear`."""
        return self.sweeper.clear(prefix)

    def prune(self) -> int:
        """Remove expired, damaged and orphaned files; see :meth:`Sweeper.prune`."""
        return self.sweeper.prune()

    def close(self) -> None:
        """Release the lock files and the spare inodes (blocking: run in a thread)."""
        self._spares.drain()
        self._lock.close()
        self._evict_lock.close()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
