"""Small blocking file helpers shared by the store and its sweeps.

Opening an entry. Anything can end up where an entry file should be: a symlink
(to ``/dev/zero``, which never ends), a FIFO (whose ``open`` blocks until a writer
comes), a socket, a device or a directory. :func:`open_entry` opens with
``O_NOFOLLOW`` (a symlink fails with ``ELOOP`` instead of being followed) and
``O_NONBLOCK`` (a FIFO opens at once instead of waiting), then ``fstat``\\s the
descriptor and accepts regular files only. :func:`read_entry_bytes` reads at most
the larger of 64 KiB and the file's size + 1 byte, and past 64 KiB only when the
header declares exactly the size the file has: a read is bounded by the header's
length, never by what the file would yield.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
import sys
from collections.abc import Iterator

from cachekit_disk._format import HEADER_SIZE, parse_header
from cachekit_disk._layout import shard_dirs

__all__ = [
    "NotAFile",
    "group_files",
    "make_dirs",
    "next_name",
    "open_entry",
    "read_entry_bytes",
    "read_head",
    "regular_size",
    "remove_special",
    "root_fd",
    "set_mode",
    "sync_dir",
    "unlink_quiet",
]

_READ_CHUNK = 65536
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: How an entry file is opened: never through a symlink, never blocking (FIFO).
ENTRY_FLAGS = (
    os.O_RDONLY
    | _O_CLOEXEC
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
# open() errors that mean "something other than a regular file is there": a
# symlink under O_NOFOLLOW (ELOOP; EMLINK on FreeBSD), a socket or a device
# without a driver (ENXIO, ENODEV), a directory where the platform refuses (EISDIR).
_NOT_A_FILE_ERRNOS = frozenset(
    code
    for code in (
        errno.ELOOP,
        getattr(errno, "EMLINK", None),
        errno.ENXIO,
        errno.ENODEV,
        errno.EISDIR,
        getattr(errno, "EFTYPE", None),
    )
    if code is not None
)
_names = itertools.count()


class NotAFile(Exception):
    """Something that is not a regular file sits where an entry should be."""


def next_name() -> int:
    """A number unique within this process, for temp and trash names (atomic)."""
    return next(_names)


_ROOT_FD: list[int] = []


def root_fd() -> int:
    if not _ROOT_FD:
        _ROOT_FD.append(os.open("/", os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC))
    return _ROOT_FD[0]


def open_entry(path: str) -> tuple[int, os.stat_result] | None:
    """A descriptor and the ``fstat`` of the regular file at ``path``; ``None`` when
    nothing is there; :class:`NotAFile` when something else is."""
    try:
        fd = os.open(path, ENTRY_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in _NOT_A_FILE_ERRNOS:
            raise NotAFile(path) from None
        raise
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotAFile(path)
    return fd, st


def read_entry_bytes(fd: int, size: int) -> bytes:
    """The bytes of the entry file open as ``fd`` (``size``: its ``fstat`` size),
    one byte more if it has grown (so that a padded file shows), or ``b""`` when its
    header declares another size than it has. Reads from offset 0."""
    if size < _READ_CHUNK:
        return os.pread(fd, size + 1, 0)
    data = os.pread(fd, _READ_CHUNK, 0)
    header = parse_header(data)
    if header is None or header.file_size != size:
        return b""  # damaged: never read on for a length nobody declared
    parts = [data]
    have = len(data)
    want = size + 1
    while have < want:
        chunk = os.pread(fd, want - have, have)
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def read_head(fd: int, size: int) -> tuple[bytes, bytes] | None:
    """The fixed header and the key of an entry file (``size``: its ``fstat`` size),
    without reading its value; ``None`` when the header does not fit the file."""
    data = os.pread(fd, HEADER_SIZE + 512, 0)
    header = parse_header(data)
    if header is None or header.file_size != size:
        return None
    end = HEADER_SIZE + header.key_length
    if len(data) < end:
        data = os.pread(fd, end, 0)
        if len(data) < end:
            return None
    return data[:HEADER_SIZE], data[HEADER_SIZE:end]


def regular_size(path: str) -> int:
    """The size of the regular file at ``path``; 0 if none (or something else)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def sync_dir(directory: str) -> None:
    """``fsync`` a directory (its entries), where directories can be opened."""
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(directory, os.O_RDONLY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_mode(fd: int, mode: int) -> None:
    """``fchmod`` where the platform has it (not Windows before Python 3.13)."""
    fchmod = getattr(os, "fchmod", None)
    if fchmod is not None:
        fchmod(fd, mode)


def unlink_quiet(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def remove_special(path: str) -> bool:
    """Remove what is not a regular file at ``path``: a symlink (never its target),
    a FIFO, a socket or a device node is unlinked, an empty directory removed; a
    directory with something in it is left alone. Returns whether it went."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISREG(st.st_mode):
        return False
    try:
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        return False
    return True


def make_dirs(path: str, mode: int, top: str) -> None:
    """``os.makedirs(path, exist_ok=True)``, except that every directory created at
    or below ``top`` gets exactly ``mode`` (whatever the umask); those above ``top``
    get the usual ``0o777`` less the umask."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
        return
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent == path:
            raise
        if parent == top or parent.startswith(top + os.sep):
            make_dirs(parent, mode, top)
        else:
            os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
            return
    os.chmod(path, mode)  # mkdir's mode went through the umask


def group_files(group: str) -> Iterator[os.DirEntry[str]]:
    """The files (entries and temp files) under one namespace directory."""
    for shard in shard_dirs(group):
        try:
            files = list(os.scandir(shard))
        except FileNotFoundError:  # cleared meanwhile
            continue
        yield from files
