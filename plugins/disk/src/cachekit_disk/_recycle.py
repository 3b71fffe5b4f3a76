"""Reusing the inodes of replaced entries instead of freeing and allocating them.

Each write puts a new file in place of the old one. Creating an inode and freeing
one are the dearest steps of that: measured on the benchmark machine (ext4 in a
VM), ~0.2-0.9 ms each, against ~0.04 ms for everything else a write does. So a
write *exchanges* its temporary file with the entry (``renameat2(RENAME_EXCHANGE)``,
one atomic step: readers see the old file or the new one, as with a rename) and the
old inode, now under the temporary name, becomes a *spare*; a delete renames the
entry to a spare name. Both are atomic renames, so a spare belongs to exactly one
writer, in one process. A later write rewrites a spare in place (``pwrite`` +
``ftruncate``) and uses it as its temporary file.

Safety: a reader may still hold a retired inode open. Spares are reused only after
a grace period (``GRACE`` seconds) and a reader reads a file with one ``read`` right
after opening it, so it has long finished. Should one stall past the grace period
and see the file being rewritten, the length, key and CRC checks of every read
(see ``_format``) turn that into a miss: never a wrong or mixed value. The pool is
per process (cleared in a forked child), bounded (``CAPACITY`` spares; beyond that an
inode is simply freed), outside the size cap, and emptied by ``close``; spares of a
process that died are removed by ``prune`` like its temporary files. Where
``renameat2`` is missing (not Linux, old libc, a filesystem without
``RENAME_EXCHANGE``) writes replace as usual and only deletes recycle.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import itertools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable

from cachekit_disk._layout import TEMP_PREFIX

__all__ = ["CAPACITY", "GRACE", "SparePool"]

#: Seconds a retired inode rests before it is rewritten.
GRACE = 0.1
#: Spares kept per store (a few MB at typical entry sizes).
CAPACITY = 1024

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
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


_names = itertools.count()
_POOLS: weakref.WeakSet[SparePool] = weakref.WeakSet()


class SparePool:
    """The retired inodes of one store, oldest first."""

    def __init__(self, *, capacity: int = CAPACITY, grace: float = GRACE) -> None:
        self._capacity = capacity
        self._grace = grace
        self._spares: collections.deque[tuple[float, str]] = collections.deque()
        self._lock = threading.Lock()
        _POOLS.add(self)

    def __len__(self) -> int:
        return len(self._spares)

    @property
    def full(self) -> bool:
        return len(self._spares) >= self._capacity

    def exchange(self, tmp: str, path: str) -> bool:
        """Atomically swap ``tmp`` (a complete new entry file) with the entry at
        ``path`` and keep the old inode, now named ``tmp``, as a spare. ``False``
        (nothing changed) when ``path`` does not exist, the pool is full or the
        platform cannot exchange: then the caller replaces as usual."""
        if self.full or _renameat2 is None:
            return False
        if _renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), 2) != 0:
            code = ctypes.get_errno()
            if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                _disable_exchange()
            return False
        self._add(tmp)
        return True

    def retire(self, path: str, directory: str) -> bool:
        """Delete the entry at ``path`` by renaming it to a spare name in
        ``directory``; ``False`` (nothing changed) when the pool is full or the entry
        is gone."""
        if self.full:
            return False
        spare = f"{directory}{os.sep}{TEMP_PREFIX}{os.getpid()}.r{next(_names)}"
        try:
            os.rename(path, spare)
        except OSError:
            return False
        self._add(spare)
        return True

    def _add(self, spare: str) -> None:
        with self._lock:
            self._spares.append((time.monotonic(), spare))

    def take(self) -> str | None:
        """A spare that has rested for the grace period, or ``None``."""
        if not self._spares:
            return None
        now = time.monotonic()
        with self._lock:
            if self._spares and now - self._spares[0][0] >= self._grace:
                return self._spares.popleft()[1]
        return None

    def rewrite(self, spare: str, blob: bytes, fsync: bool) -> bool:
        """Overwrite ``spare`` with ``blob``; ``False`` if it is gone (pruned, cleared)."""
        try:
            fd = os.open(spare, os.O_WRONLY | _O_CLOEXEC)
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
            with contextlib.suppress(OSError):
                os.unlink(spare)
            raise
        os.close(fd)
        return True

    def drain(self) -> None:
        """Remove every spare (blocking: call it from a worker thread)."""
        with self._lock:
            spares, self._spares = self._spares, collections.deque()
        for _, spare in spares:
            with contextlib.suppress(OSError):
                os.unlink(spare)

    def _forget(self) -> None:
        # A forked child must not rewrite inodes its parent may rewrite too.
        self._lock = threading.Lock()
        self._spares = collections.deque()


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
