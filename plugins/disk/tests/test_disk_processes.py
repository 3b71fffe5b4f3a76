"""Several real processes on one directory: sharing, racing writers, a writer killed
with SIGKILL mid-storm, and the size cap under load from many processes.

Helper processes run ``_procs.py`` (real interpreters, real files, no mocks); the
tests wait on their output or exit, never on sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cachekit_disk import DiskBackend
from cachekit_disk._format import parse_entry_file

Spawn = Any  # the conftest fixture: (*args) -> subprocess.Popen[str]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def entry_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files if len(f) == 64]


def temp_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files if f.startswith(".tmp.")]


def entry_bytes(root: Path) -> int:
    total = 0
    for path in entry_files(root):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"helper failed ({proc.returncode}): {out[-500:]} {err[-2000:]}"
    return out


def dump(spawn: Spawn, directory: Path, keys: list[str]) -> list[str | None]:
    result: list[str | None] = json.loads(finish(spawn("dump", directory, *keys)))
    return result


def assert_every_file_is_whole(root: Path) -> None:
    for path in entry_files(root):
        assert parse_entry_file(path.read_bytes()) is not None, f"torn entry file {path}"


async def test_second_process_reads_what_the_first_wrote(
    tmp_path: Path, spawn: Spawn, procs: ModuleType
) -> None:
    finish(spawn("write", tmp_path, 1, 20, 1, 5000))
    keys = [procs.key_name(i) for i in range(20)]
    assert dump(spawn, tmp_path, [*keys, "cachekit:v2:procs:never-written"]) == ["ok"] * 20 + [None]
    # And this process, too, reads the other's entries (and they are its values).
    backend = DiskBackend(disk_cache_dir=tmp_path)
    try:
        value = await backend.get(keys[3])
        assert value == procs.make_value(keys[3], 1, 0, 5000)
        # A value written here is seen by a new process.
        await backend.set(
            "cachekit:v2:procs:from-parent",
            procs.make_value("cachekit:v2:procs:from-parent", 9, 0, 100),
            None,
        )
    finally:
        await backend.aclose()
    assert dump(spawn, tmp_path, ["cachekit:v2:procs:from-parent"]) == ["ok"]


async def test_concurrent_writers_and_a_reader_see_only_whole_entries(
    tmp_path: Path, spawn: Spawn, procs: ModuleType
) -> None:
    keys, rounds, size = 30, 25, 20_000
    writers = [spawn("write", tmp_path, w, keys, rounds, size) for w in (1, 2)]
    reader = spawn("read", tmp_path, keys, 40)
    for proc in writers:
        finish(proc)
    out = finish(reader)  # exits non-zero on any torn or mixed value
    assert out.startswith("hits ")
    results = dump(spawn, tmp_path, [procs.key_name(i) for i in range(keys)])
    assert results == ["ok"] * keys
    assert len(entry_files(tmp_path)) == keys
    assert temp_files(tmp_path) == []
    assert_every_file_is_whole(tmp_path)


def open_files_under(pid: int, directory: Path) -> list[str]:
    """The entry and temporary files process ``pid`` has open under ``directory``
    (Linux /proc)."""
    found = []
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:  # closed meanwhile
            continue
        # Entry and temporary files only: not the owner marker or the lock files,
        # which a writer holds open all along.
        mine = target.startswith(str(directory)) and "/.owners/" not in target
        if mine and not os.path.basename(target).startswith(".cachekit-disk"):
            found.append(target)
    return found


def kill_mid_write(spawn: Spawn, directory: Path, kill_after: int, temp_mode: str) -> bool:
    """Run a write storm, let ``kill_after`` writes start, then SIGKILL it the moment
    it holds a file open in the cache directory (a write in progress: an unnamed
    O_TMPFILE inode shows as ``…/#<inode> (deleted)``). Return whether it did (and,
    for named temp files, left one behind)."""
    # Values of 0.5-2 MB: a write spends a while filling its temp file.
    storm = spawn("storm", directory, 500_000, temp_mode)
    assert storm.stdout is not None
    for _ in range(kill_after):
        line = storm.stdout.readline()
        assert line, storm.stderr.read() if storm.stderr else "storm died"
    writing: list[str] = []
    while storm.poll() is None and not writing:
        writing = open_files_under(storm.pid, directory)
    storm.send_signal(signal.SIGKILL)
    storm.wait(timeout=30)
    assert storm.returncode == -signal.SIGKILL
    # With named temp files, insist on one being left behind, for prune to face.
    return bool(writing) and (temp_mode == "unnamed" or bool(temp_files(directory)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches /proc/<pid>/fd")
@pytest.mark.parametrize("temp_mode", ["unnamed", "named"])
@pytest.mark.parametrize("kill_after", [3, 30])
async def test_sigkill_mid_storm_leaves_no_torn_entry(
    tmp_path: Path, spawn: Spawn, procs: ModuleType, kill_after: int, temp_mode: str
) -> None:
    # Retry until a kill lands mid-write (it nearly always does at the first try).
    assert any(kill_mid_write(spawn, tmp_path, kill_after, temp_mode) for _ in range(5))

    keys = [procs.key_name(i) for i in range(20)]
    results = dump(spawn, tmp_path, keys)
    assert "bad" not in results
    assert results.count("ok") >= min(kill_after, 20) - 1
    assert_every_file_is_whole(tmp_path)

    # The killed writer's named temp files are swept away; the entries stay.
    backend = DiskBackend(disk_cache_dir=tmp_path)
    try:
        assert await backend.prune() == 0
    finally:
        await backend.aclose()
    assert temp_files(tmp_path) == []
    assert dump(spawn, tmp_path, keys) == results


async def test_size_cap_holds_under_load_from_several_processes(
    tmp_path: Path, spawn: Spawn, procs: ModuleType
) -> None:
    cap, size, writers = 300_000, 3_000, 3
    entry = size + 32 + len(procs.key_name(199))
    # Each writer writes 200 keys x 4 rounds x 3 KB = 2.4 MB, 8x the cap.
    running = [spawn("write", tmp_path, w, 200, 4, size, cap) for w in range(writers)]
    peak = 0
    while any(p.poll() is None for p in running):
        peak = max(peak, entry_bytes(tmp_path))
    for proc in running:
        finish(proc)
    # Writers never get far past the cap (a writer evicts itself at 1.5x) …
    assert peak <= cap * 1.5 + writers * entry
    # … and once they are done (each waited for its pending eviction) it holds.
    final = entry_bytes(tmp_path)
    assert 0 < final <= cap
    assert dump(spawn, tmp_path, [procs.key_name(i) for i in range(200)]).count("bad") == 0
    # The shared counter agrees with the files.
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=cap)
    try:
        assert backend._store._counter_total() == final
    finally:
        await backend.aclose()


def test_helpers_check_values(procs: ModuleType) -> None:
    key = procs.key_name(1)
    value = procs.make_value(key, 1, 2, 1000)
    assert len(value) == 1000 and procs.check_value(key, value)
    assert not procs.check_value(key, value[:-1])
    assert not procs.check_value(procs.key_name(2), value)
    mixed = value[:500] + procs.make_value(key, 2, 2, 1000)[500:]
    assert not procs.check_value(key, mixed)
    assert sys.executable  # helpers run under this interpreter
