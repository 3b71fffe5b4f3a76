"""The plugin as a user meets it: installed, found through its entry point."""

from __future__ import annotations

from importlib import metadata

import pytest
from cachekit import Cache, ConfigurationError, backend_registry, build_plugin_manager
from cachekit.testing import modules_imported_by
from cachekit_template import TemplateBackend


def test_entry_point_is_declared() -> None:
    (ep,) = [e for e in metadata.entry_points(group="cachekit") if e.name == "template"]
    assert ep.value == "cachekit_template._plugin"
    assert ep.dist is not None
    assert ep.dist.name == "cachekit-template"


def test_registry_names_the_distribution() -> None:
    pm = build_plugin_manager(autoload=True)
    info = backend_registry(pm)["template"]
    assert info.factory is TemplateBackend
    assert (info.distribution, info.version) == ("cachekit-template", "0.1.0")


@pytest.mark.anyio
async def test_cache_type_works_through_the_entry_point() -> None:
    # A fresh manager that loads entry points, as the process-wide default does.
    pm = build_plugin_manager(autoload=True)
    async with Cache(type="template", plugins=pm, namespace="tpl") as cache:
        assert isinstance(cache.backend, TemplateBackend)
        await cache.aset("greeting", {"text": "hello"})
        assert await cache.aget("greeting") == {"text": "hello"}
        assert await cache.aclear() == 1
        assert await cache.aget("greeting") is None


def test_options_reach_the_factory() -> None:
    pm = build_plugin_manager(autoload=True)
    cache = Cache(type="template", plugins=pm, default_ttl=30)
    assert cache.backend.default_ttl == 30.0


def test_bad_option_is_a_configuration_error() -> None:
    pm = build_plugin_manager(autoload=True)
    with pytest.raises(ConfigurationError, match="default_ttl"):
        Cache(type="template", plugins=pm, default_ttl=-1)
    with pytest.raises(ConfigurationError, match="does not take option"):
        Cache(type="template", plugins=pm, no_such_option=1)


def test_registering_the_plugin_imports_no_backend_module() -> None:
    """Registration names the factory as "module:attribute": a process that never
    builds a template cache does not import the backend (where a real plugin imports
    its client library)."""
    loaded = modules_imported_by('import cachekit; cachekit.Cache(type="local")')
    assert "cachekit_template._plugin" in loaded  # the plugin was registered
    assert "cachekit_template._backend" not in loaded
