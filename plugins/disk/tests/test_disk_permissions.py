"""Who may read the cache (issue 15, item 12): prompts and answers can hold personal
data, so everything the backend creates is owner-only by default (directories
0700, files 0600) whatever the umask, and ``file_mode``/``dir_mode`` widen it."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cachekit import Cache, ConfigurationError, build_plugin_manager
from cachekit_disk import DiskBackend

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for one test (``umask(value)``), restoring it after."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(previous)


def modes(top: Path) -> tuple[dict[str, int], dict[str, int]]:
    """The permission bits of every directory (``top`` included) and file under ``top``."""
    dirs = {str(top): stat.S_IMODE(top.stat().st_mode)}
    files: dict[str, int] = {}
    for directory, subdirs, names in os.walk(top):
        for name in subdirs:
            dirs[os.path.join(directory, name)] = stat.S_IMODE(
                os.lstat(os.path.join(directory, name)).st_mode
            )
        for name in names:
            files[os.path.join(directory, name)] = stat.S_IMODE(
                os.lstat(os.path.join(directory, name)).st_mode
            )
    return dirs, files


async def exercise(backend: DiskBackend) -> None:
    """Make every kind of file: entries, spares (overwrite, delete), lock files,
    the owner marker, entries in a second namespace and under ``_keys``."""
    for i in range(3):
        await backend.set(f"cachekit:v2:team:k{i}", b"v" * 100, None)
    await backend.set("cachekit:v2:team:k0", b"w" * 100, None)  # an overwrite: a spare
    await backend.delete("cachekit:v2:team:k1")  # a delete: a spare
    await backend.set("cachekit:v2:team:k1", b"x" * 100, None)
    await backend.set("raw-key", b"r", None)
    await backend.set("cachekit:v2:other:k", b"o", None)
    await backend.clear("cachekit:v2:other:")
    await backend.set("cachekit:v2:other:k", b"o", None)
    await backend.evict()  # the eviction lock file (with a cap)
    await backend.set("cachekit:v2:team:k2", b"y" * 100, None)  # a spare left at rest


@pytest.mark.anyio
async def test_default_is_owner_only_under_a_permissive_umask(
    tmp_path: Path, umask: Callable[[int], None]
) -> None:
    umask(0o022)
    directory = tmp_path / "cache"  # created by the backend
    backend = DiskBackend(disk_cache_dir=directory, max_size_bytes=1 << 20)
    try:
        await exercise(backend)
        dirs, files = modes(directory)  # while open: spares and the marker exist
    finally:
        await backend.aclose()
    assert {d: m for d, m in dirs.items() if m != 0o700} == {}
    assert {f: m for f, m in files.items() if m != 0o600} == {}
    # … and that covered every kind of file and directory:
    names = {os.path.basename(f) for f in files}
    assert {".cachekit-disk", ".cachekit-disk-evict"} <= names
    assert any(n.startswith(".spare.") for n in names)
    assert any("/.owners/" in f for f in files)
    assert len(dirs) > 5


@pytest.mark.anyio
async def test_modes_can_be_widened_whatever_the_umask(
    tmp_path: Path, umask: Callable[[int], None]
) -> None:
    umask(0o077)
    directory = tmp_path / "shared"
    backend = DiskBackend(
        disk_cache_dir=directory, max_size_bytes=1 << 20, file_mode=0o640, dir_mode=0o750
    )
    try:
        await exercise(backend)
        dirs, files = modes(directory)
    finally:
        await backend.aclose()
    assert {d: m for d, m in dirs.items() if m != 0o750} == {}
    assert {f: m for f, m in files.items() if m != 0o640} == {}


@pytest.mark.anyio
async def test_existing_directories_are_left_as_they_are(tmp_path: Path) -> None:
    """The backend sets the mode of what it creates, not of the caller's directory."""
    os.chmod(tmp_path, 0o755)
    backend = DiskBackend(disk_cache_dir=tmp_path)
    try:
        await backend.set("cachekit:v2:ns:k", b"v", None)
    finally:
        await backend.aclose()
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "disk-v1").st_mode) == 0o700


@pytest.mark.anyio
async def test_a_recycled_inode_takes_this_stores_mode(tmp_path: Path) -> None:
    """An entry written by another process with wider permissions (or by an older
    version) becomes a spare of this store: what it next holds gets 0600."""
    wide = DiskBackend(disk_cache_dir=tmp_path, file_mode=0o644)
    try:
        await wide.set("cachekit:v2:ns:a", b"old", None)
    finally:
        await wide.aclose()
    backend = DiskBackend(disk_cache_dir=tmp_path)
    backend._store.spares._grace = 0.0
    try:
        await backend.set("cachekit:v2:ns:a", b"new", None)  # the 0644 inode: a spare
        await backend.set("cachekit:v2:ns:b", b"secret", None)  # written into it
        _, files = modes(tmp_path / "disk-v1" / "ns")
    finally:
        await backend.aclose()
    assert set(files.values()) == {0o600}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"file_mode": 0o400}, "file_mode must include 0o600"),
        ({"file_mode": 0o755}, "file_mode must include 0o600 .* none of 0o111"),
        ({"file_mode": 640}, "file_mode must be permission bits"),  # decimal, not octal
        ({"file_mode": "640"}, "file_mode must be permission bits"),
        ({"file_mode": "0o6x0"}, "file_mode must be permission bits"),
        ({"file_mode": True}, "file_mode"),
        ({"file_mode": -1}, "file_mode"),
        ({"dir_mode": 0o600}, "dir_mode must include 0o700"),
        ({"dir_mode": 0o1777}, "dir_mode must be permission bits"),
        ({"dir_mode": 448.0}, "dir_mode must be permission bits"),
    ],
)
def test_bad_modes_are_configuration_errors_before_any_io(
    tmp_path: Path, options: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        DiskBackend(disk_cache_dir=tmp_path / "never", **options)  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()


def test_modes_from_a_url(tmp_path: Path) -> None:
    pm = build_plugin_manager(autoload=True)
    cache = Cache.from_url(f"disk://{tmp_path}?file_mode=0o640&dir_mode=0o750", plugins=pm)
    backend = cache.backend
    assert isinstance(backend, DiskBackend)
    assert (backend.file_mode, backend.dir_mode) == (0o640, 0o750)
    with pytest.raises(ConfigurationError, match="in a URL: file_mode=0o600"):
        Cache.from_url(f"disk://{tmp_path}?file_mode=640", plugins=pm)
