"""Type checking keeps the decorated function's signature (ParamSpec); mypy checks this
file (``scripts/test.sh``), and pytest runs it so the examples stay valid at run time."""

from __future__ import annotations

from typing import assert_type

import cachekit
import pytest
from cachekit import Cache


@pytest.mark.anyio
async def test_cache_cached_keeps_the_signature() -> None:
    cache = Cache()

    @cache.cached("acompletion")
    async def complete(*, model: str, messages: list[dict[str, str]]) -> dict[str, str]:
        return {"model": model}

    result = await complete(model="m", messages=[])
    assert_type(result, dict[str, str])
    assert result == {"model": "m"}
    with pytest.raises(TypeError):
        await complete(modle="m", messages=[])  # type: ignore[call-arg]


def test_module_level_cached_keeps_the_signature() -> None:
    @cachekit.cached("embedding")
    def embed(*, model: str, input: list[str]) -> list[float]:
        return [0.0] * len(input)

    assert_type(embed(model="e", input=["a"]), list[float])


def test_an_unknown_call_type_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown call type 'acompeltion'.*acompletion"):
        Cache().cached("acompeltion")
    with pytest.raises(ValueError, match="unknown call type"):
        cachekit.cached("kv")
