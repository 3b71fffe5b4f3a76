"""The plugin kernel: registry, runtime registration, failures isolated, hint for unknown types."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import cachekit
import pluggy
import pytest
from cachekit import (
    AsyncBackend,
    Cache,
    LocalBackend,
    UnknownBackendError,
    backend_registry,
    build_plugin_manager,
    hookimpl,
    plugin_failures,
)
from cachekit import hookspecs as specs
from cachekit._kernel._manager import _load_entry_points, _provenance, distribution_of


def test_local_is_registered_through_the_hook(pm: pluggy.PluginManager) -> None:
    registry = backend_registry(pm)
    assert registry["local"].factory is LocalBackend
    assert registry["local"].plugin == "cachekit._storage._local"
    assert registry["local"].distribution == "cachekit-core"


def test_unknown_type_lists_installed_and_hints_the_package(pm: pluggy.PluginManager) -> None:
    with pytest.raises(UnknownBackendError) as info:
        Cache("s3-nope", plugins=pm)
    assert "local" in str(info.value) and info.value.installed[0] == "local"
    with pytest.raises(ValueError, match=r"pip install cachekit-s3"):
        Cache("s3", plugins=pm)


class DictBackend(AsyncBackend):
    def __init__(self, **options: Any) -> None:
        self.options = options
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    async def clear(self, prefix: str) -> int:
        doomed = [k for k in self.data if k.startswith(prefix)]
        for k in doomed:
            del self.data[k]
        return len(doomed)


class DictPlugin:
    @hookimpl
    def cachekit_register_backends(self, register: Any) -> None:
        register("dict", DictBackend)


def test_runtime_registration_is_valid_for_new_caches(pm: pluggy.PluginManager) -> None:
    with pytest.raises(UnknownBackendError):
        Cache("dict", plugins=pm)
    pm.register(DictPlugin())
    cache = Cache("dict", plugins=pm, my_option=7)
    assert isinstance(cache.backend, DictBackend) and cache.backend.options == {"my_option": 7}
    cache.set("k", {"v": 1})
    assert cache.get("k") == {"v": 1}
    assert cache.plugins is pm


def test_a_raising_registration_hook_is_reported_and_skipped(pm: pluggy.PluginManager) -> None:
    class Broken:
        @hookimpl
        def cachekit_register_backends(self, register: Any) -> None:
            raise RuntimeError("boom")

    pm.register(Broken(), name="broken-plugin")
    pm.register(DictPlugin())
    assert {"local", "dict"} <= set(backend_registry(pm))
    failures = plugin_failures(pm)
    assert [(f.plugin, f.error) for f in failures] == [("broken-plugin", "RuntimeError: boom")]


def test_duplicate_type_name_is_reported_for_the_later_plugin(pm: pluggy.PluginManager) -> None:
    class Again:
        @hookimpl
        def cachekit_register_backends(self, register: Any) -> None:
            register("local", DictBackend)

    pm.register(Again(), name="again")
    assert backend_registry(pm)["local"].factory is LocalBackend
    assert any(f.plugin == "again" and "already registered" in f.error for f in plugin_failures(pm))


class _EP:
    """An entry point whose load() fails, as a broken installed plugin's would."""

    name = "broken-ep"
    dist = None

    def load(self) -> Any:
        raise ImportError("No module named 'missing_dependency'")


def test_an_entry_point_that_fails_to_import_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "entry_points", lambda group: [_EP()])
    pm = pluggy.PluginManager(specs.PROJECT_NAME)
    pm.add_hookspecs(specs)
    _load_entry_points(pm, _provenance(pm))
    [failure] = plugin_failures(pm)
    assert failure.plugin == "broken-ep" and "missing_dependency" in failure.error


class _CountingDist:
    """Distribution metadata that counts its reads (the real reads parse METADATA)."""

    reads = 0

    @property
    def name(self) -> str:
        self.reads += 1
        return "ck-two-types"

    @property
    def version(self) -> str:
        return "3.1"


class _PlainEP:
    def __init__(self, name: str, dist: _CountingDist) -> None:
        self.name, self.dist = name, dist

    def load(self) -> Any:
        return type(self.name, (), {})()  # a plugin with no hooks


def test_distribution_metadata_is_read_when_asked_once_per_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The end-to-end case (real dist-info on disk) is in test_cli_backends.py."""
    dist = _CountingDist()
    eps = [_PlainEP("one", dist), _PlainEP("two", dist)]
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps)
    pm = pluggy.PluginManager(specs.PROJECT_NAME)
    pm.add_hookspecs(specs)
    _load_entry_points(pm, _provenance(pm))
    assert dist.reads == 0  # loading plugins reads no metadata
    assert distribution_of(pm, "one") == distribution_of(pm, "two") == ("ck-two-types", "3.1")
    assert dist.reads == 1


def test_autoload_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    names = {name for name, _ in build_plugin_manager().list_name_plugin()}
    assert names == {
        "cachekit._storage._local",
        "cachekit._semantic._local",
        "cachekit._semantic._embedders",
        "cachekit._kernel._urls",
        "cachekit._semantic._verify",
    }


def test_default_manager_is_lazy_and_shared() -> None:
    assert cachekit.get_plugin_manager() is cachekit.get_plugin_manager()
    assert Cache().plugins is cachekit.get_plugin_manager()


def test_every_hook_is_documented() -> None:
    hooks = [name for name in dir(specs) if name.startswith("cachekit_")]
    assert {
        "cachekit_register_backends",
        "cachekit_register_embedders",
        "cachekit_key_params",
        "cachekit_entry_ttl",
        "cachekit_on_hit",
        "cachekit_on_miss",
        "cachekit_on_store",
        "cachekit_on_error",
    } <= set(hooks)
    for name in hooks:
        doc = getattr(specs, name).__doc__ or ""
        assert len(doc.split()) >= 12, f"{name} needs a docstring"


def test_public_surface_matches_all() -> None:
    assert sorted(cachekit.__all__) == sorted(set(cachekit.__all__))
    for name in cachekit.__all__:
        assert hasattr(cachekit, name), name
    public = {n for n in vars(cachekit) if not n.startswith("_")}
    modules = {"exceptions", "hookspecs", "testing", "annotations"}
    assert public - set(cachekit.__all__) - modules == set()
