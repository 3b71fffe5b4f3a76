"""What lands on disk, and what the backend makes of files it did not write well:
the documented layout, one open() per hit, damaged files as misses, scoped clears,
expiry sweeps and LRU eviction under a size cap."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cachekit.testing import FakeClock
from cachekit_disk import DiskBackend

NS_KEY = "cachekit:v2:team-a:completion:abc"


def entry_path(root: Path, group: str, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return root / "disk-v1" / group / digest[:2] / digest


def entry_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root / "disk-v1") for f in files if len(f) == 64]


def temp_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files if f.startswith(".tmp.")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def backend(tmp_path: Path, clock: FakeClock) -> AsyncIterator[DiskBackend]:
    instance = DiskBackend(disk_cache_dir=tmp_path, clock=clock)
    yield instance
    await instance.aclose()


# -- layout ------------------------------------------------------------------------
@pytest.mark.anyio
async def test_layout_namespace_shard_digest(backend: DiskBackend, tmp_path: Path) -> None:
    await backend.set(NS_KEY, b"v", None)
    await backend.set("plain-key", b"w", None)
    await backend.set("cachekit:v2:Team-B:x", b"u", None)
    assert entry_path(tmp_path, "team-a", NS_KEY).is_file()
    assert entry_path(tmp_path, "_keys", "plain-key").is_file()
    # Upper case is not safe on case-insensitive filesystems: base32-named directory.
    (upper,) = [p for p in (tmp_path / "disk-v1").iterdir() if p.name.startswith("@")]
    assert upper.name == "@" + "krswc3jnii".lower()  # base32("Team-B"), no padding
    assert {p.name for p in entry_files(tmp_path)} == {
        hashlib.sha256(k.encode()).hexdigest()
        for k in (NS_KEY, "plain-key", "cachekit:v2:Team-B:x")
    }


@pytest.mark.anyio
async def test_namespaces_that_are_unsafe_directory_names(backend: DiskBackend) -> None:
    names = ["..", ".", "-x", "_keys", "CON", "con", "nul.txt", "a.", "A", "a"]
    for name in names:
        await backend.set(f"cachekit:v2:{name}:k", name.encode(), None)
    for name in names:
        assert await backend.get(f"cachekit:v2:{name}:k") == name.encode()
    assert await backend.clear("cachekit:v2:A:") == 1
    assert await backend.get("cachekit:v2:a:k") == b"a"
    assert await backend.clear("cachekit:v2:..:") == 1
    assert await backend.get("cachekit:v2:.:k") == b"."


@pytest.mark.anyio
async def test_a_hit_opens_one_file_and_lists_no_directory(
    backend: DiskBackend, tmp_path: Path
) -> None:
    """The layout answers a hit with one open() whatever the number of entries."""
    for i in range(300):
        await backend.set(f"cachekit:v2:big:k{i}", b"x" * 100, None)
    events: list[tuple[str, tuple[Any, ...]]] = []
    watching = threading.Event()
    root = str(tmp_path)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        mine = event.startswith("os.") or (event == "open" and str(args[0]).startswith(root))
        if watching.is_set() and mine:
            events.append((event, args))

    sys.addaudithook(hook)
    watching.set()
    try:
        assert await backend.get("cachekit:v2:big:k123") == b"x" * 100
    finally:
        watching.clear()
    opens = [e for e in events if e[0] == "open"]
    assert len(opens) == 1, events
    assert not [e for e in events if e[0] in ("os.listdir", "os.scandir")]


# -- damaged files -----------------------------------------------------------------
def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:-3])
    elif how == "header-only":
        path.write_bytes(data[:20])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "padded":
        path.write_bytes(data + b"\0")
    elif how == "flipped":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "foreign":
        path.write_bytes(b'{"not": "ours"}')


@pytest.mark.parametrize(
    "how", ["truncated", "header-only", "empty", "padded", "flipped", "garbage", "foreign"]
)
@pytest.mark.anyio
async def test_damaged_file_is_a_miss_and_is_removed(
    backend: DiskBackend, tmp_path: Path, how: str
) -> None:
    await backend.set(NS_KEY, b"value" * 50, None)
    await backend.set(NS_KEY + "-neighbour", b"fine", None)
    path = entry_path(tmp_path, "team-a", NS_KEY)
    _damage(path, how)
    assert await backend.get(NS_KEY) is None
    assert await backend.get_many([NS_KEY, NS_KEY + "-neighbour"]) == [None, b"fine"]
    assert not path.exists()
    await backend.set(NS_KEY, b"again", None)
    assert await backend.get(NS_KEY) == b"again"


@pytest.mark.anyio
async def test_file_under_another_keys_name_is_a_miss(backend: DiskBackend, tmp_path: Path) -> None:
    await backend.set("cachekit:v2:team-a:one", b"1", None)
    await backend.set("cachekit:v2:team-a:two", b"2", None)
    one = entry_path(tmp_path, "team-a", "cachekit:v2:team-a:one")
    two = entry_path(tmp_path, "team-a", "cachekit:v2:team-a:two")
    two.write_bytes(one.read_bytes())  # a valid entry, but for another key
    assert await backend.get("cachekit:v2:team-a:two") is None
    assert await backend.get("cachekit:v2:team-a:one") == b"1"


@pytest.mark.anyio
async def test_prune_removes_damaged_and_expired_and_stale_temps(
    backend: DiskBackend, tmp_path: Path, clock: FakeClock
) -> None:
    await backend.set("cachekit:v2:p:keep", b"k", None)
    await backend.set("cachekit:v2:p:later", b"l", 100)
    await backend.set("cachekit:v2:p:soon", b"s", 1)
    await backend.set("cachekit:v2:p:bad", b"b" * 40, None)
    _damage(entry_path(tmp_path, "p", "cachekit:v2:p:bad"), "truncated")
    shard = entry_path(tmp_path, "p", "cachekit:v2:p:keep").parent
    dead = shard / ".tmp.999999999.1"  # a pid that cannot exist: its writer is gone
    dead.write_bytes(b"half a value")
    live = shard / f".tmp.{os.getpid()}.999999"  # our own, still being written
    live.write_bytes(b"in flight")
    foreign = shard / "README"
    foreign.write_bytes(b"not ours")
    clock.advance(2)
    assert await backend.prune() == 2  # "soon" expired, "bad" damaged
    assert await backend.get("cachekit:v2:p:keep") == b"k"
    assert await backend.get("cachekit:v2:p:later") == b"l"
    assert len(entry_files(tmp_path)) == 2
    assert not dead.exists()
    assert live.exists()
    assert foreign.exists()


@pytest.mark.anyio
async def test_expired_entry_is_removed_on_read(
    backend: DiskBackend, tmp_path: Path, clock: FakeClock
) -> None:
    await backend.set(NS_KEY, b"v", 0.25)
    clock.advance(0.3)
    assert await backend.get(NS_KEY) is None
    assert not entry_path(tmp_path, "team-a", NS_KEY).exists()


@pytest.mark.anyio
async def test_background_prune_interval(tmp_path: Path, clock: FakeClock) -> None:
    backend = DiskBackend(disk_cache_dir=tmp_path, clock=clock, prune_interval=0.01)
    try:
        await backend.set(NS_KEY, b"v", 1)
        clock.advance(5)
        # The background thread sweeps without anyone reading the entry.
        for _ in range(2000):
            if not entry_files(tmp_path):
                break
            await backend.delete("cachekit:v2:x:nothing")  # yields to the thread hop
        assert not entry_files(tmp_path)
    finally:
        await backend.aclose()


# -- clear ----------------------------------------------------------------------
@pytest.mark.anyio
async def test_clear_variants(backend: DiskBackend) -> None:
    keys = [
        "cachekit:v2:team:completion:1",
        "cachekit:v2:team:completion:2",
        "cachekit:v2:team:embedding:1",
        "cachekit:v2:team-b:completion:1",
        "cachekit:v2:Team:completion:1",
        "raw:key:1",
        "raw:key:2",
        "rawer",
    ]
    for key in keys:
        await backend.set(key, b"v", None)
    assert await backend.clear("cachekit:v2:team:completion:") == 2  # inside a namespace
    assert await backend.get("cachekit:v2:team:embedding:1") == b"v"
    assert await backend.clear("raw:key:") == 2  # keys outside the cachekit form
    assert await backend.get("rawer") == b"v"
    assert await backend.clear("cachekit:v2:team") == 2  # team and team-b, not Team
    assert await backend.get("cachekit:v2:Team:completion:1") == b"v"
    assert await backend.clear("") == 2  # everything left
    assert await backend.clear("") == 0


@pytest.mark.anyio
async def test_clear_of_a_namespace_does_not_open_its_files(
    backend: DiskBackend, tmp_path: Path
) -> None:
    for i in range(50):
        await backend.set(f"cachekit:v2:gone:{i}", b"v", None)
    await backend.set("cachekit:v2:kept:0", b"v", None)
    opened: list[str] = []
    watching = threading.Event()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if watching.is_set() and event == "open" and str(args[0]).startswith(str(tmp_path)):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    watching.set()
    try:
        assert await backend.clear("cachekit:v2:gone:") == 50
    finally:
        watching.clear()
    assert opened == []
    assert await backend.get("cachekit:v2:kept:0") == b"v"
    assert not (tmp_path / "disk-v1" / "gone").exists()


# -- size cap and LRU ------------------------------------------------------------
def _dir_bytes(root: Path) -> int:
    total = 0
    for path in entry_files(root):
        with contextlib.suppress(FileNotFoundError):  # evicted while we looked
            total += path.stat().st_size
    return total


@pytest.mark.anyio
async def test_eviction_removes_least_recently_used(tmp_path: Path) -> None:
    entry = 1000 + 32 + len("cachekit:v2:lru:k00")
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=10 * entry, lru_resolution=0)
    try:
        for i in range(10):
            await backend.set(f"cachekit:v2:lru:k{i:02}", b"x" * 1000, None)
        # Give the entries distinct, old recencies: k00 oldest … k09 newest.
        for i in range(10):
            path = entry_path(tmp_path, "lru", f"cachekit:v2:lru:k{i:02}")
            os.utime(path, (1_000_000 + i, 1_000_000 + i))
        assert await backend.get("cachekit:v2:lru:k00") == b"x" * 1000  # a hit: now the newest
        await backend.set("cachekit:v2:lru:k10", b"x" * 1000, None)  # over the cap
        await backend.evict()
        present = [
            i for i in range(11) if await backend.get(f"cachekit:v2:lru:k{i:02}") is not None
        ]
        # Down to 90 % of the cap: the two least recently used went, not k00.
        assert present == [0, 3, 4, 5, 6, 7, 8, 9, 10]
        assert _dir_bytes(tmp_path) <= 10 * entry
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_cap_holds_with_background_eviction(tmp_path: Path) -> None:
    cap = 50_000
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=cap)
    try:
        for i in range(400):
            await backend.set(f"cachekit:v2:cap:{i}", os.urandom(900), None)
            assert _dir_bytes(tmp_path) <= cap * 1.5 + 1000
    finally:
        await backend.aclose()  # lets a running eviction finish
    assert _dir_bytes(tmp_path) <= cap
    assert len(entry_files(tmp_path)) < 400


@pytest.mark.anyio
async def test_value_larger_than_the_cap_is_not_stored(tmp_path: Path) -> None:
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=1000)
    try:
        await backend.set(NS_KEY, b"small", None)
        await backend.set(NS_KEY, b"x" * 2000, None)
        assert await backend.get(NS_KEY) is None  # the old value is not served stale
        assert _dir_bytes(tmp_path) == 0
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_prune_recounts_the_size_counter(tmp_path: Path) -> None:
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=10_000)
    try:
        for i in range(5):
            await backend.set(f"cachekit:v2:n:{i}", b"x" * 1000, None)
        # Files removed behind the backend's back (another tool, a crash) …
        for path in entry_files(tmp_path)[:3]:
            path.unlink()
        await backend.prune()
        # … no longer count against the cap.
        assert backend._store.last_total == _dir_bytes(tmp_path)
    finally:
        await backend.aclose()


@pytest.fixture
def no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    extra = [t for t in threading.enumerate() if t not in before and t.name.startswith("cachekit")]
    assert [t for t in extra if t.name == "cachekit-disk-background"] == []


@pytest.mark.anyio
async def test_aclose_stops_the_background_thread(
    tmp_path: Path, no_leftover_threads: None
) -> None:
    backend = DiskBackend(disk_cache_dir=tmp_path, max_size_bytes=2000, prune_interval=60)
    for i in range(5):
        await backend.set(f"cachekit:v2:t:{i}", b"x" * 900, None)
    await backend.aclose()
    await backend.aclose()


# -- inode recycling ---------------------------------------------------------------
@pytest.mark.anyio
async def test_replaced_inodes_are_recycled_and_stale_readers_miss(tmp_path: Path) -> None:
    from cachekit_disk._format import read_entry

    backend = DiskBackend(disk_cache_dir=tmp_path)
    backend._store.spares._grace = 0.0  # no need to wait in a test
    try:
        await backend.set("cachekit:v2:r:a", b"first a", None)
        a_path = entry_path(tmp_path, "r", "cachekit:v2:r:a")
        first_inode = a_path.stat().st_ino
        # A reader opens a's file, then stalls …
        stalled = os.open(a_path, os.O_RDONLY)
        try:
            await backend.set("cachekit:v2:r:a", b"second a", None)  # retires the inode
            assert a_path.stat().st_ino != first_inode
            await backend.set("cachekit:v2:r:b", b"b's value", None)  # reuses it
            b_path = entry_path(tmp_path, "r", "cachekit:v2:r:b")
            assert b_path.stat().st_ino == first_inode
            # … and wakes up to b's entry in the inode it opened: a miss, not b's value.
            data = os.read(stalled, 1 << 16)
            assert isinstance(read_entry(data, b"cachekit:v2:r:a"), str)
        finally:
            os.close(stalled)
        assert await backend.get("cachekit:v2:r:a") == b"second a"
        assert await backend.get("cachekit:v2:r:b") == b"b's value"
        await backend.delete("cachekit:v2:r:b")  # a delete retires its inode too
        assert len(backend._store.spares) == 1
    finally:
        await backend.aclose()
    assert temp_files(tmp_path) == []  # aclose removed the spare inodes


@pytest.mark.anyio
async def test_a_reader_that_loses_its_file_to_a_writer_reads_the_new_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the previous test stages, inside a real read: the reader's inode is
    exchanged away and recycled for another key mid-read; it reads the path again
    and finds the entry's new value (a hit, not a miss)."""
    from cachekit_disk import _store

    backend = DiskBackend(disk_cache_dir=tmp_path)
    store = backend._store
    store.spares._grace = 0.0
    real_read = _store.read_entry_bytes
    raced: list[int] = []

    def read_after_a_writer(fd: int, size: int) -> bytes:
        if not raced:  # the first read stalls while two writes go through
            raced.append(fd)
            store.set("cachekit:v2:r:a", b"second a", None)
            store.set("cachekit:v2:r:b", b"b's value", None)  # reuses the inode
        return real_read(fd, os.fstat(fd).st_size)

    try:
        await backend.set("cachekit:v2:r:a", b"first a", None)
        monkeypatch.setattr(_store, "read_entry_bytes", read_after_a_writer)
        assert store.get("cachekit:v2:r:a") == b"second a"
        assert raced  # the race happened
        monkeypatch.undo()
        assert await backend.get("cachekit:v2:r:b") == b"b's value"  # nothing removed
    finally:
        await backend.aclose()


# -- the thread hop ------------------------------------------------------------------
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_cancelled_operation_returns_and_its_result_is_dropped(anyio_backend: str) -> None:
    import anyio
    from cachekit_disk._hop import ThreadHop

    hop = ThreadHop(2, "test-hop")
    loop = asyncio.get_running_loop()
    started, release = threading.Event(), threading.Event()

    def blocking() -> str:
        started.set()
        release.wait(10)
        return "late"

    with anyio.move_on_after(0.05) as scope:
        await hop.run(loop, blocking)
    assert scope.cancelled_caught
    assert started.is_set()
    release.set()  # the worker now resolves a cancelled future: nothing happens
    assert await hop.run(loop, lambda: "next") == "next"
    with pytest.raises(ZeroDivisionError):
        await hop.run(loop, lambda: 1 // 0)
    hop.shutdown()
