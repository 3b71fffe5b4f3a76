"""Reusing the inodes of replaced entries instead of freeing and allocating them.

Each write puts a new file in place of the old one. Creating an inode and freeing
one are the dearest steps of that: measured on the benchmark machine (ext4 in a
VM), ~0.2-0.9 ms each, against ~0.04 ms for everything else a write does. So a
write *exchanges* its temporary file with the entry (``renameat2(RENAME_EXCHANGE)``,
one atomic step: readers see the old file or the new one, as with a rename) and the
old inode becomes a *spare*; a delete renames the entry to a spare name. Both are
atomic renames, so a spare belongs to exactly one store, in one process. A later
write rewrites a spare in place (``pwrite`` + ``ftruncate``) and uses it as its
temporary file.

No copy of the data. Before the operation that retired it returns, a spare is
overwritten with zeros in place (:meth:`SparePool.keep`) and renamed
``.spare.<owner>.<n>``: a deleted, cleared or replaced value is not left readable
anywhere. Zeroing keeps the inode's blocks, which is what keeps recycling cheap:
measured in the store on the benchmark machine, truncating the old inode instead
made a 1 KB overwrite ~3x slower (~90 → ~270 µs: it frees the blocks that the
next rewrite allocates again), zeroing adds ~5-25 µs for 1-20 KB values.
Spares larger than ``MAX_SPARE_SIZE`` are freed instead (the inode is a small part
of such a write).

Disk usage. A spare keeps its blocks, so with a size cap it counts toward the cap
(the store accounts for it; see ``_store``), and a pool holds at most ``CAPACITY``
spares and ``budget`` bytes of them. Spares of a process that died are removed by
whoever finds its owner marker unlocked (``_owners``, ``_reap``).

Safety: a reader may still hold a retired inode open; it then reads zeros or,
after the grace period (``GRACE`` seconds), another entry being written: the
length, key and CRC checks of every read (see ``_format``) turn either into a
miss, never a wrong or mixed value. The pool is per store (cleared in a forked
child) and emptied by ``close``. Where ``renameat2`` is missing (not Linux, old
libc, a filesystem without ``RENAME_EXCHANGE``) writes replace as usual and only
deletes recycle.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import stat
import sys
import threading
import time
import weakref
from collections.abc import Callable

from cachekit_disk._files import next_name, remove_special, set_mode, unlink_quiet
from cachekit_disk._layout import SPARE_PREFIX

__all__ = ["CAPACITY", "GRACE", "MAX_SPARE_SIZE", "POOL_BYTES", "SparePool", "spare_name"]

#: Seconds a retired inode rests before it is rewritten.
GRACE = 0.1
#: Spares kept per store.
CAPACITY = 1024
#: Bytes of spares kept per store (a store with a size cap keeps at most 1/16 of it).
POOL_BYTES = 32 << 20
#: A retired file larger than this is freed, not kept.
MAX_SPARE_SIZE = 256 << 10

_WRITE_FLAGS = (
    os.O_WRONLY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
_AT_FDCWD = -100


def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # libc without renameat2 (glibc < 2.28)
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    loaded: Callable[..., int] = function
    return loaded


_renameat2 = _load_renameat2()


def _disable_exchange() -> None:
    global _renameat2
    _renameat2 = None


_ZEROS = memoryview(bytes(MAX_SPARE_SIZE))
_POOLS: weakref.WeakSet[SparePool] = weakref.WeakSet()


class SparePool:
    """The retired inodes of one store, oldest first, with their sizes."""

    def __init__(
        self,
        *,
        file_mode: int = 0o600,
        capacity: int = CAPACITY,
        grace: float = GRACE,
        budget: int = POOL_BYTES,
    ) -> None:
        self._file_mode = file_mode
        self._capacity = capacity
        self._grace = grace
        self.budget = budget
        self._spares: collections.deque[tuple[float, str, int]] = collections.deque()
        #: Bytes held by the spares at rest.
        self.bytes = 0
        self._lock = threading.Lock()
        _POOLS.add(self)

    def __len__(self) -> int:
        return len(self._spares)

    def room_for(self, size: int) -> bool:
        """Whether a retired inode of ``size`` bytes would be kept."""
        return (
            len(self._spares) < self._capacity
            and size <= MAX_SPARE_SIZE
            and self.bytes + size <= self.budget
        )

    def exchange(self, tmp: str, path: str) -> bool:
        """Atomically swap ``tmp`` (a complete new entry file) with the entry at
        ``path``; the old inode is then at ``tmp`` and the caller passes it to
        :meth:`keep`. ``False`` (nothing changed) when ``path`` does not exist, the
        pool is full or the platform cannot exchange: then the caller replaces."""
        if len(self._spares) >= self._capacity or _renameat2 is None:
            return False
        if _renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), 2) != 0:
            code = ctypes.get_errno()
            if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                _disable_exchange()
            return False
        return True

    def retire(self, path: str, owner: str) -> str | None:
        """Delete the entry at ``path`` by renaming it to a spare name beside it;
        return that name (for :meth:`keep`), or ``None`` (nothing changed) when the
        pool is full or the entry is gone."""
        if len(self._spares) >= self._capacity:
            return None
        spare = spare_name(os.path.dirname(path), owner)
        try:
            os.rename(path, spare)
        except OSError:
            return None
        return spare

    def keep(self, old: str, owner: str) -> int | None:
        """Zero the retired inode at ``old`` and keep it as a spare; return its
        size, or ``None`` if it was removed instead (too big, no room, not a regular
        file, gone)."""
        try:
            fd = os.open(old, _WRITE_FLAGS)
        except OSError:
            if not remove_special(old):
                unlink_quiet(old)
            return None
        try:
            st = os.fstat(fd)
            size = st.st_size
            if not stat.S_ISREG(st.st_mode) or not self.room_for(size):
                os.close(fd)
                fd = -1
                if not remove_special(old):
                    unlink_quiet(old)
                return None
            done = 0
            while done < size:
                done += os.pwrite(fd, _ZEROS[: size - done], done)
            if st.st_mode & 0o7777 != self._file_mode:  # another writer's, or older
                set_mode(fd, self._file_mode)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            unlink_quiet(old)
            raise
        os.close(fd)
        spare = old
        if not os.path.basename(old).startswith(SPARE_PREFIX):
            spare = spare_name(os.path.dirname(old), owner)
            try:
                os.rename(old, spare)
            except OSError:
                unlink_quiet(old)
                return None
        with self._lock:
            self._spares.append((time.monotonic(), spare, size))
            self.bytes += size
        return size

    def take(self) -> tuple[str, int] | None:
        """A spare that has rested for the grace period and its size, or ``None``."""
        if not self._spares:
            return None
        now = time.monotonic()
        with self._lock:
            if self._spares and now - self._spares[0][0] >= self._grace:
                _, spare, size = self._spares.popleft()
                self.bytes -= size
                return spare, size
        return None

    def rewrite(self, spare: str, blob: bytes, fsync: bool) -> bool:
        """Overwrite ``spare`` with ``blob``; ``False`` if it is gone (pruned, cleared)."""
        try:
            fd = os.open(spare, _WRITE_FLAGS)
        except OSError:
            return False
        try:
            view = memoryview(blob)
            offset = 0
            while offset < len(view):
                offset += os.pwrite(fd, view[offset:], offset)
            os.ftruncate(fd, len(blob))
            if fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            unlink_quiet(spare)
            raise
        os.close(fd)
        return True

    def drain(self) -> int:
        """Remove every spare (blocking: call it from a worker thread); return the
        bytes freed."""
        with self._lock:
            spares, self._spares = self._spares, collections.deque()
            self.bytes = 0
        freed = 0
        for _, spare, size in spares:
            try:
                os.unlink(spare)
            except OSError:
                continue
            freed += size
        return freed

    def _forget(self) -> None:
        # A forked child must not rewrite inodes its parent may rewrite too.
        self._lock = threading.Lock()
        self._spares = collections.deque()
        self.bytes = 0


def spare_name(directory: str, owner: str) -> str:
    return f"{directory}{os.sep}{SPARE_PREFIX}{owner}.{next_name()}"


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
