"""The public surface: ``__all__`` lists exactly what is importable and documented."""

from __future__ import annotations

import cachekit_litellm


def test_all_names_are_importable_and_documented() -> None:
    assert cachekit_litellm.__all__ == sorted(cachekit_litellm.__all__)
    for name in cachekit_litellm.__all__:
        obj = getattr(cachekit_litellm, name)
        if isinstance(obj, str):
            continue  # constants are documented in the module's source and README
        assert obj.__doc__, f"cachekit_litellm.{name} has no docstring"
