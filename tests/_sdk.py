"""Shared requests and assertions of the cross-package suite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
from cachekit import Cache

__all__ = [
    "CHAT",
    "TOOLS",
    "MakeCache",
    "Weather",
    "assert_same_result",
    "plain",
]

#: ``make_cache(**options)``: a ``Cache`` on the test's backend (see conftest).
MakeCache = Callable[..., Cache]

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]

#: A chat request (kept to one message: LiteLLM's own cache skips > 4 messages).
CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "celsius": {"type": "boolean"}},
                "required": ["city", "celsius"],
            },
        },
    }
]


class Weather(pydantic.BaseModel):
    """A structured-output schema (``response_format=Weather``)."""

    city: str
    temperature: float
    conditions: list[str]


def plain(value: Any) -> Any:
    """``value`` as JSON-like data (pydantic models dumped), to compare across forms."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(warnings=False)
    return value


def _public(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def assert_same_result(hit: Any, miss: Any, *, path: str = "result") -> None:
    """``hit`` rebuilt exactly as ``miss``: same type at every depth, the same public
    attributes (``None``-valued ones included) and the same dumped data. Private
    attributes (``_hidden_params``, ``_request_id``) are not compared."""
    assert type(hit) is type(miss), f"{path}: {type(hit)!r} is not {type(miss)!r}"
    if isinstance(miss, pydantic.BaseModel):
        assert hit.model_dump(warnings=False) == miss.model_dump(warnings=False), path
        assert _public(hit).keys() == _public(miss).keys(), f"{path}: attributes differ"
        for name, value in _public(miss).items():
            assert_same_result(getattr(hit, name), value, path=f"{path}.{name}")
    elif isinstance(miss, list | tuple):
        assert len(hit) == len(miss), path
        for i, (h, m) in enumerate(zip(hit, miss, strict=True)):
            assert_same_result(h, m, path=f"{path}[{i}]")
    elif isinstance(miss, dict):
        assert hit.keys() == miss.keys(), path
        for k in miss:
            assert_same_result(hit[k], miss[k], path=f"{path}[{k!r}]")
    else:
        assert hit == miss, path
