"""Locks shared by the threads of this process and by other processes, and the
shared size counter that lives in the lock file.

Cross-process exclusion uses ``flock(2)`` on a small file in the cache directory:
the kernel drops the lock when its holder dies (even by SIGKILL), so a crashed
process never wedges the others. ``flock`` locks belong to an open file
description, which threads share, so a ``threading.Lock`` orders the threads of one
process first. After ``fork()`` the child re-opens the file (an inherited
description would share the parent's lock). On Windows there is no ``flock``: the
locks order the threads of one process only (see the README).
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
from types import TracebackType

from cachekit_disk._files import set_mode

__all__ = ["FileLock", "SizeCounter"]

if sys.platform != "win32":
    import fcntl

    def _lock(fd: int, blocking: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

else:  # pragma: no cover - exercised on Windows only

    def _lock(fd: int, blocking: bool) -> bool:
        return True

    def _unlock(fd: int) -> None:
        return None


class FileLock:
    """An exclusive lock over ``path`` for threads and processes alike."""

    def __init__(self, path: str, mode: int = 0o600) -> None:
        self.path = path
        self._mode = mode
        self._fd: int | None = None
        self._pid = os.getpid()
        self._thread_lock = threading.Lock()

    def _descriptor(self) -> int:
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self._mode)
            if os.fstat(fd).st_mode & 0o7777 != self._mode:
                # New: the umask narrowed the mode. Another user's: not ours to change.
                with contextlib.suppress(OSError):
                    set_mode(fd, self._mode)
            self._fd = fd
        return self._fd

    def acquire(self, blocking: bool = True) -> bool:
        if self._pid != os.getpid():
            # A forked child (one thread): never share the parent's open file
            # description (its flock is the parent's) nor its thread lock's state.
            self._pid = os.getpid()
            self._fd = None
            self._thread_lock = threading.Lock()
        if not self._thread_lock.acquire(blocking):
            return False
        try:
            if _lock(self._descriptor(), blocking):
                return True
        except BaseException:
            self._thread_lock.release()
            raise
        self._thread_lock.release()
        return False

    def release(self) -> None:
        try:
            if self._fd is not None:
                _unlock(self._fd)
        finally:
            self._thread_lock.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    @property
    def fd(self) -> int:
        """The descriptor of the lock file (valid while the lock is held)."""
        return self._descriptor()

    def close(self) -> None:
        if self._pid != os.getpid():
            return
        with self._thread_lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)


_COUNTER = struct.Struct("<8sq")
_COUNTER_MAGIC = b"CKDSIZE1"


class SizeCounter:
    """The total size of the entry files, kept in the lock file by every process
    that writes with a size cap. Read and written only while ``lock`` is held."""

    def __init__(self, lock: FileLock) -> None:
        self.lock = lock

    def read(self) -> int | None:
        """The stored total, or ``None`` when the file holds none (new or damaged)."""
        data = os.pread(self.lock.fd, _COUNTER.size, 0)
        if len(data) != _COUNTER.size:
            return None
        magic, total = _COUNTER.unpack(data)
        if magic != _COUNTER_MAGIC or total < 0:
            return None
        return int(total)

    def write(self, total: int) -> None:
        os.pwrite(self.lock.fd, _COUNTER.pack(_COUNTER_MAGIC, max(0, total)), 0)
