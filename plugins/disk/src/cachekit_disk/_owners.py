"""Who owns the temporary files, spare inodes and trash in a cache directory, and
whether that process is still alive.

A store that writes first *claims* an owner token, ``<pid>-<8 hex digits>``, and
names every file it makes after it (``.tmp.<token>.<n>``, ``.spare.<token>.<n>``,
``.trash-<token>.<n>``). The claim is a marker file ``<root>/.owners/<token>`` on
which the store holds an exclusive ``flock`` for as long as it uses the directory;
it is created under a hidden name, locked, then renamed into place, so it is never
visible unlocked while its owner lives. The kernel drops the lock when the process
dies, by SIGKILL too, so another process that gets the lock (non-blocking) knows for
certain the owner is gone: no pid probing and no pid reuse to guess around. That
process then removes the dead owner's files (see ``_reap``) and the marker.

A new token is drawn for every claim (a store used again after ``close``, a forked
child), so a token is never alive twice. Names from before owner tokens
(``.tmp.<pid>.<n>``) fall back to the old rule: stale once no process has that pid,
or after an hour. Windows has no ``flock``; there only the hour rule applies.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import threading
import time
import weakref

from cachekit_disk._files import make_dirs, set_mode, unlink_quiet
from cachekit_disk._layout import OWNERS_DIR, SPARE_PREFIX, TEMP_PREFIX, Layout

__all__ = ["CHECK_INTERVAL", "STALE_TEMP_AGE", "Liveness", "Owners", "owner_of"]

#: Seconds between two looks for dead owners by a process that keeps writing.
CHECK_INTERVAL = 60.0
#: A legacy temporary file older than this is stale even if its writer's pid looks
#: alive (pid reuse; Windows, where liveness cannot be probed).
STALE_TEMP_AGE = 3600.0
_TOKEN_RE = re.compile(r"[0-9]+-[0-9a-f]{8}")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CAN_PROBE = sys.platform != "win32"

if _CAN_PROBE:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EWOULDBLOCK: held by its (live) owner
            return False
        return True

else:  # pragma: no cover - Windows

    def _try_lock(fd: int) -> bool:
        return False


def owner_of(name: str) -> str | None:
    """The owner part of a temporary or spare file's name (``None`` if not one)."""
    for prefix in (TEMP_PREFIX, SPARE_PREFIX):
        if name.startswith(prefix):
            owner, dot, _ = name[len(prefix) :].partition(".")
            return owner if dot else None
    return None


class Owners:
    """This store's claim on a cache directory, and the probe of everyone else's."""

    def __init__(self, layout: Layout, *, file_mode: int, dir_mode: int) -> None:
        self._layout = layout
        self._dir = os.path.join(layout.root, OWNERS_DIR)
        self._file_mode = file_mode
        self._dir_mode = dir_mode
        self._fd: int | None = None
        self._pid = 0
        self.token = ""
        #: ``time.monotonic()`` of the next look for dead owners.
        self.next_check = 0.0
        self.check_interval = CHECK_INTERVAL
        self._lock = threading.Lock()
        _ALL.add(self)

    @property
    def claimed(self) -> bool:
        return self._fd is not None and self._pid == os.getpid()

    def claim(self) -> str:
        """This store's token, claiming one first if needed (blocking I/O)."""
        if self._fd is not None and self._pid == os.getpid():
            return self.token
        with self._lock:  # worker threads race to the first write
            if self._fd is not None and self._pid == os.getpid():
                return self.token
            return self._claim()

    def _claim(self) -> str:
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        make_dirs(self._dir, self._dir_mode, self._layout.directory)
        hidden = os.path.join(self._dir, f".{token}")
        fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, self._file_mode)
        try:
            set_mode(fd, self._file_mode)
            if _CAN_PROBE:
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(hidden, os.path.join(self._dir, token))
        except BaseException:
            os.close(fd)
            unlink_quiet(hidden)
            raise
        self._fd, self._pid, self.token = fd, os.getpid(), token
        self.next_check = 0.0  # a new claim looks for the dead at once
        return token

    def release(self) -> None:
        """Give the claim up (the store has removed its spares)."""
        fd, self._fd = self._fd, None
        if fd is None or self._pid != os.getpid():
            return
        unlink_quiet(os.path.join(self._dir, self.token))
        os.close(fd)

    def due(self) -> bool:
        """Whether it is time to look for dead owners (cheap: a clock read)."""
        return self._fd is not None and time.monotonic() >= self.next_check

    def checked(self) -> None:
        self.next_check = time.monotonic() + self.check_interval

    def liveness(self) -> Liveness:
        return Liveness(self)

    def markers(self) -> list[str]:
        try:
            return [name for name in os.listdir(self._dir) if not name.startswith(".")]
        except FileNotFoundError:
            return []

    def sweep_hidden(self) -> None:
        """Remove half-made claims: a claim is hidden only between two calls, so
        one older than ``CHECK_INTERVAL`` belongs to a process killed there."""
        try:
            names = [name for name in os.listdir(self._dir) if name.startswith(".")]
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(self._dir, name)
            with contextlib.suppress(OSError):
                if time.time() - os.lstat(path).st_mtime > CHECK_INTERVAL:
                    os.unlink(path)

    def marker_path(self, token: str) -> str:
        return os.path.join(self._dir, token)

    def _forget(self) -> None:
        # A forked child must not keep its parent's marker locked: the parent's
        # files would look alive for as long as the child lives.
        self._lock = threading.Lock()
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


_ALL: weakref.WeakSet[Owners] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for owners in list(_ALL):
        owners._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Liveness:
    """Whose files are stale, for one sweep: each marker is probed once, and the
    locks of dead owners are held until :meth:`bury` removes their markers."""

    def __init__(self, owners: Owners) -> None:
        self._owners = owners
        self._known: dict[str, bool] = {}
        self._dead: dict[str, int | None] = {}

    def dead_markers(self) -> list[str]:
        """Probe every marker in the directory; return the dead owners' tokens."""
        for token in self._owners.markers():
            self.alive(token)
        return list(self._dead)

    def alive(self, owner: str) -> bool:
        known = self._known.get(owner)
        if known is None:
            known = self._known[owner] = self._probe(owner)
        return known

    def _probe(self, owner: str) -> bool:
        owners = self._owners
        if owners.claimed and owner == owners.token:
            return True
        if not _TOKEN_RE.fullmatch(owner) or not _CAN_PROBE:
            return True  # not a token: the caller's own rule decides
        try:
            fd = os.open(owners.marker_path(owner), os.O_RDONLY | _O_CLOEXEC | _O_NOFOLLOW)
        except FileNotFoundError:
            self._dead[owner] = None  # buried already (or never claimed: not ours)
            return False
        except OSError:
            return True
        if _try_lock(fd):
            self._dead[owner] = fd  # held until bury(): nobody else reaps it meanwhile
            return False
        os.close(fd)
        return True

    def stale(self, name: str, mtime: float) -> bool:
        """Whether the temporary or spare file ``name`` (modified at ``mtime``)
        belongs to nobody alive."""
        owner = owner_of(name)
        if owner is None:
            return True  # not one of ours (or damaged): nothing will ever finish it
        if _TOKEN_RE.fullmatch(owner):
            if not _CAN_PROBE:  # pragma: no cover - Windows
                return time.time() - mtime > STALE_TEMP_AGE
            return not self.alive(owner)
        if time.time() - mtime > STALE_TEMP_AGE:
            return True
        if not owner.isdigit():
            return True
        return not _pid_alive(int(owner))

    def trash_stale(self, name: str) -> bool:
        """Whether a ``.trash-<owner>.<n>`` directory was left by a dead owner."""
        owner = name.partition("-")[2].partition(".")[0]
        if _TOKEN_RE.fullmatch(owner):
            return not self.alive(owner)
        return not owner.isdigit() or not _pid_alive(int(owner))

    def bury(self) -> None:
        """Remove the markers of the dead owners found (their files are gone)."""
        for token, fd in self._dead.items():
            unlink_quiet(self._owners.marker_path(token))
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._dead.clear()

    def close(self) -> None:
        """Let go of the dead owners' locks without burying them."""
        for fd in self._dead.values():
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._dead.clear()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if not _CAN_PROBE:  # pragma: no cover - os.kill(pid, 0) would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True
