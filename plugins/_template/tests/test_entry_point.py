"""The plugin as cachekit sees it: its hook module registered on a plugin manager.

The tests register ``cachekit_template._plugin`` explicitly, which is exactly what the
``cachekit`` entry point does once the distribution is installed, so they hold for the
skeleton (whose entry point is commented out: it never registers a backend) and for a
copy alike. ``tests/test_wheels.py`` checks installed plugins end to end.
"""

from __future__ import annotations

import re
from pathlib import Path

import pluggy
import pytest
from cachekit import Cache, ConfigurationError, backend_registry, build_plugin_manager
from cachekit.testing import modules_imported_by
from cachekit_template import TemplateBackend, _plugin

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    plugins = build_plugin_manager(autoload=False)
    plugins.register(_plugin, name="template")
    return plugins


def test_pyproject_points_the_entry_point_at_the_hook_module() -> None:
    text = PYPROJECT.read_text(encoding="utf-8")
    entry = re.search(
        r'^(?:# )?\[project\.entry-points\.cachekit\]\n(?:# )?(\S+) = "([\w.]+)"$', text, re.M
    )
    assert entry is not None, "pyproject.toml lost its cachekit entry point"
    assert entry.groups() == ("template", _plugin.__name__)


def test_registry_names_the_factory(pm: pluggy.PluginManager) -> None:
    info = backend_registry(pm)["template"]
    assert info.factory is TemplateBackend
    assert info.plugin == "template"


@pytest.mark.anyio
async def test_cache_type_works_once_registered(pm: pluggy.PluginManager) -> None:
    async with Cache(type="template", plugins=pm, namespace="tpl") as cache:
        assert isinstance(cache.backend, TemplateBackend)
        await cache.aset("greeting", {"text": "hello"})
        assert await cache.aget("greeting") == {"text": "hello"}
        assert await cache.aclear() == 1
        assert await cache.aget("greeting") is None


def test_options_reach_the_factory(pm: pluggy.PluginManager) -> None:
    cache = Cache(type="template", plugins=pm, default_ttl=30)
    assert cache.backend.default_ttl == 30.0


def test_bad_option_is_a_configuration_error(pm: pluggy.PluginManager) -> None:
    with pytest.raises(ConfigurationError, match="default_ttl"):
        Cache(type="template", plugins=pm, default_ttl=-1)
    with pytest.raises(ConfigurationError, match="does not take option"):
        Cache(type="template", plugins=pm, no_such_option=1)


def test_registering_the_plugin_imports_no_backend_module() -> None:
    """Registration names the factory as "module:attribute": a process that never
    builds a template cache does not import the backend (where a real plugin imports
    its client library)."""
    loaded = modules_imported_by(
        "import cachekit, cachekit_template._plugin as hooks\n"
        "pm = cachekit.build_plugin_manager(autoload=False)\n"
        "pm.register(hooks, name='template')\n"
        "assert 'template' in cachekit.backend_registry(pm)\n"
        "cachekit.Cache(type='local', plugins=pm)"
    )
    assert "cachekit_template._plugin" in loaded
    assert "cachekit_template._backend" not in loaded
