"""Things that are not entry files where an entry file should be (issue 15, item 10):
a symlink (to ``/dev/zero``, to a huge file, to another valid entry), a FIFO, a
directory, a file longer than its header says. Each is a miss, at once, with a
bounded read; never a hang, a crash or an endless read."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from cachekit_disk import DiskBackend
from cachekit_disk._format import encode_entry_file

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="symlinks, FIFOs: POSIX"),
]

KEY = "cachekit:v2:odd:completion:1"
Spawn = Any  # the conftest fixture: (*args) -> subprocess.Popen[str]


def entry_path(root: Path, key: str, group: str = "odd") -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = root / "disk-v1" / group / digest[:2] / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[DiskBackend]:
    instance = DiskBackend(disk_cache_dir=tmp_path)
    await instance.set("cachekit:v2:odd:other", b"neighbour", None)  # the tree exists
    yield instance
    await instance.aclose()


@contextlib.contextmanager
def unblocking(fifo: Path) -> Iterator[None]:
    """If a reader got stuck opening ``fifo`` (the bug), let it go at the end."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def bytes_read() -> int:
    """Bytes this process has read through read(2)/pread(2) so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


linux_only = pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="/proc/self/io")


def test_symlink_to_dev_zero_is_a_miss(tmp_path: Path, spawn: Spawn) -> None:
    """In a helper process limited to 1 GiB of address space: an endless read
    (the bug) dies with MemoryError there instead of taking this machine's memory."""
    entry_path(tmp_path, KEY).symlink_to("/dev/zero")
    proc = spawn("get", tmp_path, KEY)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out.strip()) == (0, "miss"), err[-2000:]
    assert not entry_path(tmp_path, KEY).is_symlink()  # removed: the next write can go there


async def test_symlink_is_never_followed(backend: DiskBackend, tmp_path: Path) -> None:
    # A valid entry for this very key, outside the tree: still not served through a link.
    outside = tmp_path / "elsewhere"
    outside.write_bytes(encode_entry_file(KEY.encode(), b"via a link", None))
    link = entry_path(tmp_path, KEY)
    link.symlink_to(outside)
    assert await backend.get(KEY) is None
    assert await backend.get_many([KEY, "cachekit:v2:odd:other"]) == [None, b"neighbour"]
    assert not link.is_symlink()
    assert outside.read_bytes().endswith(b"via a link")  # the target is left alone
    await backend.set(KEY, b"real", None)
    assert await backend.get(KEY) == b"real"


@linux_only
async def test_symlink_to_a_huge_file_is_not_read(backend: DiskBackend, tmp_path: Path) -> None:
    huge = tmp_path / "huge"
    with huge.open("wb") as f:
        f.truncate(64 << 20)  # sparse: 64 MB that take no disk space
    entry_path(tmp_path, KEY).symlink_to(huge)
    before = bytes_read()
    assert await backend.get(KEY) is None
    assert bytes_read() - before < 1 << 20
    assert huge.stat().st_size == 64 << 20


@linux_only
@pytest.mark.parametrize("declared", [10, 200_000])
async def test_a_read_is_bounded_by_the_header(
    backend: DiskBackend, tmp_path: Path, declared: int
) -> None:
    """A regular file with a valid header for the key, then 64 MB more than it
    declares: each read takes at most max(64 KiB, declared size + 1) bytes (there
    are two: the read, then the check before a damaged file is removed)."""
    path = entry_path(tmp_path, KEY)
    with path.open("wb") as f:
        f.write(encode_entry_file(KEY.encode(), b"v" * declared, None))
        f.truncate(64 << 20)
    before = bytes_read()
    assert await backend.get(KEY) is None
    assert bytes_read() - before < 2 * max(65536, declared + 1) + (1 << 16)
    assert not path.exists()  # damaged: removed, like a padded file


async def test_fifo_is_a_miss_and_never_blocks(backend: DiskBackend, tmp_path: Path) -> None:
    fifo = entry_path(tmp_path, KEY)
    os.mkfifo(fifo)
    with unblocking(fifo), anyio.fail_after(20):
        assert await backend.get(KEY) is None
        assert await backend.get_many([KEY]) == [None]
    assert not fifo.exists()
    await backend.set(KEY, b"after", None)
    assert await backend.get(KEY) == b"after"


async def test_directory_is_a_miss(backend: DiskBackend, tmp_path: Path) -> None:
    empty = entry_path(tmp_path, KEY)
    empty.mkdir()
    assert await backend.get(KEY) is None
    assert not empty.exists()  # an empty directory goes; the key can be written
    await backend.set(KEY, b"v", None)
    assert await backend.get(KEY) == b"v"

    other = "cachekit:v2:odd:completion:2"
    full = entry_path(tmp_path, other)
    full.mkdir()
    (full / "something").write_bytes(b"not ours to delete")
    assert await backend.get(other) is None
    assert await backend.get_many([other, KEY]) == [None, b"v"]
    assert await backend.delete(other) is False
    assert (full / "something").read_bytes() == b"not ours to delete"


async def test_sweeps_pass_special_files_without_blocking(
    backend: DiskBackend, tmp_path: Path
) -> None:
    keys = [f"cachekit:v2:odd:k{i}" for i in range(4)]
    fifo, zero, empty, full = (entry_path(tmp_path, k) for k in keys)
    os.mkfifo(fifo)
    zero.symlink_to("/dev/zero")
    empty.mkdir()
    full.mkdir()
    (full / "x").write_bytes(b"x")
    with unblocking(fifo), anyio.fail_after(20):
        assert await backend.clear("cachekit:v2:odd:k") == 0  # reads each stored key
        assert await backend.prune() == 3  # the FIFO, the symlink, the empty directory
        assert not fifo.exists() and not zero.is_symlink() and not empty.exists()
        assert full.is_dir()
        assert await backend.get("cachekit:v2:odd:other") == b"neighbour"
        assert await backend.clear("cachekit:v2:odd:") == 1  # the namespace, all of it
    assert not (tmp_path / "disk-v1" / "odd").exists()


async def test_size_capped_store_handles_them_too(tmp_path: Path) -> None:
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=1 << 20)
    try:
        await backend.set("cachekit:v2:odd:other", b"n", None)
        fifo = entry_path(tmp_path, KEY)
        os.mkfifo(fifo)
        with unblocking(fifo), anyio.fail_after(20):
            assert await backend.get(KEY) is None
            await backend.set(KEY, b"v" * 100, None)
            assert await backend.get(KEY) == b"v" * 100
            assert await backend.prune() == 0
        assert backend._store._counter_total() == sum(
            p.stat().st_size for p in (tmp_path / "disk-v1" / "odd").rglob("*") if p.is_file()
        )
    finally:
        await backend.aclose()
