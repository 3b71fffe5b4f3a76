"""The public surface: ``__all__`` lists exactly what is importable and documented."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module_name", ["cachekit_redis", "cachekit_redis.testing"])
def test_all_names_are_importable_and_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        assert obj.__doc__, f"{module_name}.{name} has no docstring"
