"""The plugin as a user meets it: found through its entry point, cheap to register."""

from __future__ import annotations

import cachekit_qdrant
import pytest
from cachekit import Cache, ConfigurationError, backend_registry, build_plugin_manager
from cachekit.testing import modules_imported_by
from cachekit_qdrant import QdrantSemanticBackend


def test_registering_the_plugin_imports_no_client_library() -> None:
    """With every plugin installed, a process that never builds a qdrant-semantic cache
    pays nothing for this one: qdrant-client (seconds to import) stays out."""
    loaded = modules_imported_by('import cachekit; cachekit.Cache(type="local")')
    assert "cachekit_qdrant._plugin" in loaded  # the plugin was registered
    heavy = {"qdrant_client", "grpc", "httpx", "numpy", "cachekit_qdrant._backend"}
    assert not heavy & loaded


def test_the_package_loads_its_names_on_first_use() -> None:
    assert "qdrant_client" not in modules_imported_by("import cachekit_qdrant")
    assert set(cachekit_qdrant.__all__) <= set(dir(cachekit_qdrant))
    for name in cachekit_qdrant.__all__:
        assert getattr(cachekit_qdrant, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = cachekit_qdrant.no_such_name  # type: ignore[attr-defined]


def test_the_backend_class_is_the_registered_factory() -> None:
    info = backend_registry(build_plugin_manager(autoload=True))["qdrant-semantic"]
    assert info.target == "cachekit_qdrant._backend:QdrantSemanticBackend"
    assert info.factory is QdrantSemanticBackend
    assert info.distribution == "cachekit-qdrant"


def test_an_unknown_option_is_refused_with_the_accepted_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"qdrant_url.*accepts: .*qdrant_api_base"):
        Cache(type="qdrant-semantic", qdrant_url="http://h:6333")
