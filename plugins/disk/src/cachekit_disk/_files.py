"""Small blocking file helpers shared by the store and its sweeps."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from collections.abc import Iterator

from cachekit_disk._format import HEADER_SIZE, parse_header
from cachekit_disk._layout import TEMP_PREFIX, shard_dirs

__all__ = [
    "READ_FLAGS",
    "STALE_TEMP_AGE",
    "group_files",
    "is_stale_temp",
    "next_name",
    "pid_alive",
    "read_all",
    "read_head",
    "root_fd",
    "unlink_quiet",
]

#: A temporary file older than this is stale even if its writer's pid looks alive
#: (pid reuse; Windows, where liveness cannot be probed safely).
STALE_TEMP_AGE = 3600.0
_READ_CHUNK = 65536
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
READ_FLAGS = os.O_RDONLY | _O_CLOEXEC | getattr(os, "O_BINARY", 0)
_names = itertools.count()


def next_name() -> int:
    """A number unique within this process, for temp and trash names (atomic)."""
    return next(_names)


_ROOT_FD: list[int] = []


def root_fd() -> int:
    if not _ROOT_FD:
        _ROOT_FD.append(os.open("/", os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC))
    return _ROOT_FD[0]


def read_all(fd: int) -> bytes:
    data = os.read(fd, _READ_CHUNK)
    if len(data) < _READ_CHUNK:  # a short read of a regular file is the end of it
        return data
    parts = [data]
    have = len(data)
    size = os.fstat(fd).st_size
    while True:
        chunk = os.read(fd, max(size - have + 1, _READ_CHUNK))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        have += len(chunk)


def read_head(fd: int) -> tuple[bytes, bytes] | None:
    """The fixed header and the key of an entry file, without reading its value."""
    data = os.pread(fd, HEADER_SIZE + 512, 0)
    header = parse_header(data)
    if header is None:
        return None
    end = HEADER_SIZE + header.key_length
    if len(data) < end:
        data = os.pread(fd, end, 0)
        if len(data) < end:
            return None
    return data[:HEADER_SIZE], data[HEADER_SIZE:end]


def unlink_quiet(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def is_stale_temp(name: str, mtime: float) -> bool:
    if time.time() - mtime > STALE_TEMP_AGE:
        return True
    parts = name[len(TEMP_PREFIX) :].split(".")
    if len(parts) != 2 or not parts[0].isdigit():
        return True  # not one of ours (or damaged): nothing will ever finish it
    return not pid_alive(int(parts[0]))


def group_files(group: str) -> Iterator[os.DirEntry[str]]:
    """The files (entries and temp files) under one namespace directory."""
    for shard in shard_dirs(group):
        try:
            files = list(os.scandir(shard))
        except FileNotFoundError:  # cleared meanwhile
            continue
        yield from files
