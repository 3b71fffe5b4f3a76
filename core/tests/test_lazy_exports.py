"""cachekit.lazy_exports: a package's public names load on first use (PEP 562)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest
from cachekit import lazy_exports

PACKAGE = "lazy_exports_probe"
SOURCE = "lazy_exports_probe_source"


@pytest.fixture
def package() -> Iterator[types.ModuleType]:
    source = types.ModuleType(SOURCE)
    source.Thing = object()  # type: ignore[attr-defined]
    source.loads = 0  # type: ignore[attr-defined]
    module = types.ModuleType(PACKAGE)
    sys.modules[SOURCE] = source
    sys.modules[PACKAGE] = module
    module.__getattr__, module.__dir__ = lazy_exports(PACKAGE, {"Thing": SOURCE})  # type: ignore[attr-defined]
    yield module
    sys.modules.pop(SOURCE, None)
    sys.modules.pop(PACKAGE, None)


def test_a_public_name_comes_from_its_module_and_is_kept(package: types.ModuleType) -> None:
    assert "Thing" not in vars(package)  # nothing loaded until asked
    thing = package.Thing
    assert thing is sys.modules[SOURCE].Thing
    assert vars(package)["Thing"] is thing  # later lookups skip __getattr__


def test_the_source_module_is_imported_on_first_use(package: types.ModuleType) -> None:
    del sys.modules[SOURCE]  # not importable: the lookup must try to import it
    with pytest.raises(ModuleNotFoundError, match=SOURCE):
        package.Thing  # noqa: B018


def test_an_unknown_name_is_an_attribute_error_naming_it(package: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match=f"{PACKAGE!r} has no attribute 'Other'"):
        package.Other  # noqa: B018
    assert not hasattr(package, "Other")


def test_dir_lists_the_lazy_names_before_they_load(package: types.ModuleType) -> None:
    assert "Thing" in dir(package)
    assert "Thing" not in vars(package)
