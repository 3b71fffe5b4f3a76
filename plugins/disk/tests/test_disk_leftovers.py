"""What writers leave beside the entries (issue 15, item 11): spare inodes and
temporary files, of live writers and of killed ones. They hold no copy of deleted,
cleared or replaced values, they count toward the size cap, and the files of a
writer that died are removed without anyone calling ``prune()``.

The killed writers are real processes (``_procs.py storm``, SIGKILLed); the
figures for many kills come from ``leftovers.py`` in this directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cachekit_disk import DiskBackend

pytestmark = pytest.mark.anyio

Spawn = Any  # the conftest fixture: (*args) -> subprocess.Popen[str]
LOCKS = {".cachekit-disk", ".cachekit-disk-evict"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def files_under(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, names in os.walk(root) for f in names]


def leftovers(root: Path) -> list[Path]:
    """Temporary files and spares (not entries, lock files or owner markers)."""
    return [p for p in files_under(root) if p.name.startswith((".tmp.", ".spare."))]


def disk_bytes(root: Path) -> int:
    """Bytes of every file in the tree but the lock files: what the cap is about."""
    total = 0
    for path in files_under(root / "disk-v1"):
        if path.name not in LOCKS:
            try:
                total += path.lstat().st_size
            except FileNotFoundError:
                continue
    return total


def markers(root: Path) -> list[str]:
    owners = root / "disk-v1" / ".owners"
    return sorted(os.listdir(owners)) if owners.is_dir() else []


def storm_and_kill(spawn: Spawn, directory: Path, writes: int, cap: int | None = None) -> None:
    """Run a write storm (values of 20-80 KB), SIGKILL it after ``writes`` writes."""
    storm: subprocess.Popen[str] = spawn(
        "storm", directory, 20_000, "unnamed", *([cap] if cap else [])
    )
    assert storm.stdout is not None
    for _ in range(writes):
        assert storm.stdout.readline(), storm.stderr.read() if storm.stderr else "storm died"
    storm.send_signal(signal.SIGKILL)
    storm.wait(timeout=30)


# -- no copy of the bytes ------------------------------------------------------------
@pytest.mark.parametrize("cap", [None, 1 << 30])
async def test_delete_overwrite_and_clear_leave_no_copy_of_the_bytes(
    tmp_path: Path, cap: int | None
) -> None:
    secrets = [os.urandom(16).hex().encode() * 8 for _ in range(7)]
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=cap)
    try:
        await backend.set("cachekit:v2:team:a", secrets[0], None)
        await backend.set("cachekit:v2:team:a", secrets[1], None)  # replaces 0
        assert await backend.delete("cachekit:v2:team:a")  # deletes 1
        await backend.set("cachekit:v2:gone:b", secrets[2], None)
        await backend.set("cachekit:v2:gone:b", secrets[3], None)
        assert await backend.clear("cachekit:v2:gone:") == 1  # a whole namespace
        await backend.set("raw:c", secrets[4], None)
        await backend.set("raw:d", secrets[5], None)
        assert await backend.clear("raw:") == 2  # keys outside the cachekit form
        await backend.set("cachekit:v2:team:sub:e", secrets[6], None)
        assert await backend.clear("cachekit:v2:team:sub:") == 1  # inside a namespace
        # No file anywhere holds any of those values …
        for path in files_under(tmp_path):
            data = path.read_bytes()
            assert [i for i, s in enumerate(secrets) if s in data] == [], path
        # … though the replaced and deleted inodes are still there, as spares.
        assert leftovers(tmp_path)
    finally:
        await backend.aclose()
    assert leftovers(tmp_path) == []


# -- the size cap counts spares ------------------------------------------------------
async def test_the_cap_holds_on_disk_usage_with_spares(tmp_path: Path) -> None:
    cap = 64_000
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=cap)
    try:
        for _ in range(6):  # overwrites, faster than spares rest: spares pile up
            for i in range(50):
                await backend.set(f"cachekit:v2:cap:{i}", os.urandom(1000), None)
        await backend.evict()
        assert disk_bytes(tmp_path) <= cap
        assert leftovers(tmp_path)  # spares there were, and they counted
        # The shared counter agrees with the files, spares included.
        assert backend._store._counter_total() == disk_bytes(tmp_path)
    finally:
        await backend.aclose()


# -- dead writers --------------------------------------------------------------------
async def test_dead_writers_files_are_removed_without_prune(tmp_path: Path, spawn: Spawn) -> None:
    for _ in range(3):
        storm_and_kill(spawn, tmp_path, 40)
    assert leftovers(tmp_path)  # the last one's spares (each storm removed the one before)
    backend = DiskBackend(disk_cache_dir=tmp_path)
    try:
        await backend.set("cachekit:v2:procs:new", b"v", None)  # no prune()
    finally:
        await backend.aclose()  # lets the background sweep it started finish
    assert leftovers(tmp_path) == []
    assert markers(tmp_path) == []
    assert len([p for p in files_under(tmp_path) if len(p.name) == 64]) == 21


async def test_a_long_lived_writer_sweeps_up_after_one_that_died_later(
    tmp_path: Path, spawn: Spawn
) -> None:
    backend = DiskBackend(disk_cache_dir=tmp_path)
    try:
        await backend.set("cachekit:v2:procs:mine", b"v", None)
        storm_and_kill(spawn, tmp_path, 40)
        dead = leftovers(tmp_path)
        assert dead
        backend._store.owners.next_check = 0.0  # CHECK_INTERVAL has passed
        await backend.set("cachekit:v2:procs:mine", b"w", None)
        for _ in range(5000):  # the background thread sweeps; each call yields to it
            if not any(p.exists() for p in dead):
                break
            await backend.get("cachekit:v2:procs:mine")
        assert not any(p.exists() for p in dead)
        assert markers(tmp_path) == [backend._store.owners.token]
    finally:
        await backend.aclose()


async def test_the_cap_holds_on_disk_usage_after_writer_kills(tmp_path: Path, spawn: Spawn) -> None:
    cap = 2_000_000
    for _ in range(3):
        storm_and_kill(spawn, tmp_path, 40, cap)
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=cap)
    try:
        await backend.set("cachekit:v2:procs:new", b"v" * 1000, None)
    finally:
        await backend.aclose()
    assert 0 < disk_bytes(tmp_path) <= cap
    assert leftovers(tmp_path) == []
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=cap)
    try:
        assert backend._store._counter_total() == disk_bytes(tmp_path)
    finally:
        await backend.aclose()


async def test_trash_of_a_clear_cut_short_is_removed(tmp_path: Path) -> None:
    """A process killed while it deleted a cleared namespace: its trash goes with
    the next process's first write (the owner marker is there, unlocked: dead)."""
    root = tmp_path / "disk-v1"
    token = "999999999-0123abcd"
    (root / ".owners").mkdir(parents=True)
    (root / ".owners" / token).write_bytes(b"")
    shard = root / f".trash-{token}.3" / "ab"
    shard.mkdir(parents=True)
    (shard / ("ab" + "0" * 62)).write_bytes(b"a cleared entry")
    (root / "ns" / "cd").mkdir(parents=True)
    spare = root / "ns" / "cd" / f".spare.{token}.7"
    spare.write_bytes(bytes(100))
    backend = DiskBackend(disk_cache_dir=tmp_path)
    try:
        await backend.set("cachekit:v2:ns:k", b"v", None)
    finally:
        await backend.aclose()
    assert not (root / f".trash-{token}.3").exists()
    assert not spare.exists()
    assert markers(tmp_path) == []
