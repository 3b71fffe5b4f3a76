"""The plugin as a user meets it: installed, found through its entry point,
configured with LiteLLM's option names or a URL."""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

import cachekit_disk
import pytest
from cachekit import (
    BackendError,
    BackendUnavailableError,
    Cache,
    ConfigurationError,
    backend_registry,
    build_plugin_manager,
)
from cachekit.testing import FakeClock, modules_imported_by
from cachekit_disk import DiskBackend, default_cache_dir


def test_entry_point_is_declared() -> None:
    (ep,) = [e for e in metadata.entry_points(group="cachekit") if e.name == "disk"]
    assert ep.value == "cachekit_disk._plugin"
    assert ep.dist is not None
    assert ep.dist.name == "cachekit-disk"


def test_public_surface() -> None:
    assert sorted(cachekit_disk.__all__) == ["DiskBackend", "default_cache_dir"]
    for name in cachekit_disk.__all__:
        assert getattr(cachekit_disk, name) is not None


def test_registry_names_the_distribution() -> None:
    info = backend_registry(build_plugin_manager(autoload=True))["disk"]
    assert info.factory is DiskBackend
    assert info.distribution == "cachekit-disk"


@pytest.mark.anyio
async def test_cache_type_disk_round_trip_and_namespace_clear(tmp_path: Path) -> None:
    pm = build_plugin_manager(autoload=True)
    async with (
        Cache(type="disk", plugins=pm, disk_cache_dir=str(tmp_path), namespace="a") as a,
        Cache(type="disk", plugins=pm, disk_cache_dir=str(tmp_path), namespace="b") as b,
    ):
        assert isinstance(a.backend, DiskBackend)
        await a.aset("greeting", {"text": "hello"})
        await b.aset("greeting", {"text": "other"})
        assert await a.aget("greeting") == {"text": "hello"}
        assert await a.aclear() == 1
        assert await a.aget("greeting") is None
        assert await b.aget("greeting") == {"text": "other"}


@pytest.mark.anyio
async def test_two_caches_on_one_directory_share_entries(tmp_path: Path) -> None:
    pm = build_plugin_manager(autoload=True)
    async with (
        Cache(type="disk", plugins=pm, disk_cache_dir=str(tmp_path)) as writer,
        Cache(type="disk", plugins=pm, disk_cache_dir=str(tmp_path)) as reader,
    ):
        await writer.aset("k", [1, 2, 3])
        assert await reader.aget("k") == [1, 2, 3]


def test_sync_face_works(tmp_path: Path) -> None:
    pm = build_plugin_manager(autoload=True)
    cache = Cache(type="disk", plugins=pm, disk_cache_dir=str(tmp_path))
    try:
        cache.set("k", {"v": 1})
        assert cache.get("k") == {"v": 1}
        assert cache.delete("k") is True
    finally:
        cache.close()


@pytest.mark.anyio
async def test_cache_clock_reaches_the_backend(tmp_path: Path) -> None:
    pm = build_plugin_manager(autoload=True)
    clock = FakeClock()
    async with Cache(type="disk", plugins=pm, disk_cache_dir=str(tmp_path), clock=clock) as cache:
        assert cache.backend._clock is clock  # type: ignore[attr-defined]
        await cache.aset("k", "v", ttl=0.5)
        assert await cache.aget("k") == "v"
        clock.advance(0.6)
        assert await cache.aget("k") is None


def test_from_url(tmp_path: Path) -> None:
    pm = build_plugin_manager(autoload=True)
    cache = Cache.from_url(f"disk://{tmp_path}?max_size_bytes=4096&fsync=full", plugins=pm)
    backend = cache.backend
    assert isinstance(backend, DiskBackend)
    assert backend.directory == str(tmp_path)
    assert backend.max_size_bytes == 4096


def test_default_directory_is_the_platform_user_cache_dir(platformdirs_isolated: Path) -> None:
    import platformdirs

    backend = DiskBackend()
    assert backend.directory == platformdirs.user_cache_dir("cachekit", appauthor=False)
    assert backend.directory == default_cache_dir()
    assert Path(backend.directory).is_relative_to(platformdirs_isolated)
    # Nothing is created before the first write.
    assert not Path(backend.directory).exists()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_size_bytes": -1}, "max_size_bytes"),
        ({"max_size_bytes": 0}, "max_size_bytes"),
        ({"max_size_bytes": 1.5}, "max_size_bytes"),
        ({"fsync": "always"}, "fsync"),
        ({"default_ttl": 0}, "default_ttl"),
        ({"lru_resolution": "1"}, "lru_resolution"),
        ({"prune_interval": -5}, "prune_interval"),
        ({"disk_cache_dir": 42}, "disk_cache_dir"),
        ({"disk_cache_dir": ""}, "disk_cache_dir"),
        ({"clock": 3}, "clock"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        DiskBackend(**options)  # type: ignore[arg-type]


def test_unknown_option_is_rejected_through_cache(tmp_path: Path) -> None:
    pm = build_plugin_manager(autoload=True)
    with pytest.raises(ConfigurationError, match="does not take option"):
        Cache(type="disk", plugins=pm, disk_cache_dir=str(tmp_path), no_such_option=1)


@pytest.mark.anyio
async def test_unusable_directory_raises_backend_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a directory")
    backend = DiskBackend(disk_cache_dir=blocker)
    try:
        assert await backend.get("k") is None  # nothing there: a miss
        with pytest.raises(BackendUnavailableError):
            await backend.set("k", b"v", None)
        with pytest.raises(BackendError):
            await backend.set("k", b"v", None)
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_errors_surface_through_cache_as_backend_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    pm = build_plugin_manager(autoload=True)
    async with Cache(type="disk", plugins=pm, disk_cache_dir=str(blocker)) as cache:
        with pytest.raises(BackendError):
            await cache.aset("k", 1)


def test_registering_the_plugin_imports_no_backend_module() -> None:
    """With every plugin installed, a process that never builds a disk cache does not
    import the backend's modules (nor platformdirs)."""
    loaded = modules_imported_by('import cachekit; cachekit.Cache(type="local")')
    assert "cachekit_disk._plugin" in loaded  # the plugin was registered
    heavy = {"platformdirs", "cachekit_disk._backend", "cachekit_disk._store"}
    assert not heavy & loaded


def test_distributed_single_flight_falls_back_to_process_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pm = build_plugin_manager(autoload=True)
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        cache = Cache(
            type="disk", disk_cache_dir=str(tmp_path), plugins=pm, single_flight="distributed"
        )
        calls: list[int] = []

        @cache.cached("completion")
        def complete(**request: object) -> dict[str, int]:
            calls.append(1)
            return {"n": len(calls)}

        assert complete(model="m", prompt="p") == complete(model="m", prompt="p") == {"n": 1}
        cache.close()
    [record] = caplog.records  # once, when the cache is built; calls add nothing
    assert "'disk' cannot" in record.getMessage() and "single_flight" in record.getMessage()
