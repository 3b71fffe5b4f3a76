"""The public surface: ``__all__`` lists exactly what is importable and documented."""

from __future__ import annotations

import importlib

import cachekit_redis
import pytest
from cachekit.testing import modules_imported_by


@pytest.mark.parametrize("module_name", ["cachekit_redis", "cachekit_redis.testing"])
def test_all_names_are_importable_and_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        assert obj.__doc__, f"{module_name}.{name} has no docstring"


def test_registering_the_plugin_imports_no_client_library() -> None:
    """With every plugin installed, a process that never builds a redis cache pays
    nothing for this one: neither redis-py nor numpy nor the backends are imported."""
    loaded = modules_imported_by('import cachekit; cachekit.Cache(type="local")')
    assert {"cachekit_redis._plugin", "cachekit_redis._semantic_plugin"} <= loaded  # registered
    heavy = {"redis", "hiredis", "numpy", "cachekit_redis._backend", "cachekit_redis._semantic"}
    assert not heavy & loaded


def test_the_package_loads_its_names_on_first_use() -> None:
    loaded = modules_imported_by("import cachekit_redis")
    assert "redis" not in loaded
    assert "redis" in modules_imported_by("from cachekit_redis import RedisBackend")
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = cachekit_redis.no_such_name  # type: ignore[attr-defined]
    assert set(cachekit_redis.__all__) <= set(dir(cachekit_redis))
