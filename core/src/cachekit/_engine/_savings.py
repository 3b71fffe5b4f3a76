"""What a hit saved: tokens, provider latency and (with a price list) money.

A miss records, in the entry's metadata (``meta["llm"]``), the request's model, the
response's token usage and how long the provider took. A hit reads them back: the
tokens and latency it saved are exactly those; the cost is priced by
``Cache(pricing=...)`` — a mapping ``{model: {"input": $, "output": $}}`` in dollars
per million tokens, or a callable ``(model, usage) -> dollars`` — and left out
(``None``), never guessed, without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachekit.exceptions import ConfigurationError

__all__ = ["LLM_META", "Pricing", "Saved", "llm_meta", "make_pricing", "usage_of"]

#: The key of the entry metadata that holds what a hit of it saves.
LLM_META = "llm"

Pricing = Callable[[str, Mapping[str, int]], float | None]

_USAGE_FIELDS = {
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
    "input_tokens": "prompt_tokens",  # the Responses API's names
    "output_tokens": "completion_tokens",
}


def usage_of(result: Any) -> dict[str, int] | None:
    """The token counts of a response (an SDK object or a dict), normalised to
    ``prompt_tokens``/``completion_tokens``/``total_tokens``; ``None`` without usage."""
    usage = result.get("usage") if isinstance(result, dict) else getattr(result, "usage", None)
    if usage is None:
        return None
    if not isinstance(usage, dict):
        dump = getattr(usage, "model_dump", None)
        usage = dump() if dump is not None else getattr(usage, "__dict__", {})
    counts: dict[str, int] = {}
    for name, value in usage.items():
        target = _USAGE_FIELDS.get(name)
        if target is not None and type(value) is int:
            counts[target] = counts.get(target, 0) + value
    if counts and "total_tokens" not in counts:
        counts["total_tokens"] = counts.get("prompt_tokens", 0) + counts.get("completion_tokens", 0)
    return counts or None


def llm_meta(
    model: Any, usage: Mapping[str, int] | None, latency_s: float | None
) -> dict[str, Any] | None:
    """The ``meta["llm"]`` record of a fresh result (``None`` when there is nothing)."""
    record: dict[str, Any] = {}
    if isinstance(model, str) and model:
        record["model"] = model
    if usage:
        record["usage"] = dict(usage)
    if latency_s is not None and math.isfinite(latency_s) and latency_s >= 0:
        record["latency_s"] = round(latency_s, 6)
    return record or None


@dataclass(frozen=True, slots=True)
class Saved:
    """What one hit saved."""

    model: str | None
    tokens: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    cost: float | None

    @classmethod
    def of(cls, meta: Mapping[str, Any] | None, pricing: Pricing | None) -> Saved | None:
        record = meta.get(LLM_META) if meta else None
        if not isinstance(record, dict):
            return None
        model = record.get("model") if isinstance(record.get("model"), str) else None
        usage = record.get("usage") if isinstance(record.get("usage"), dict) else None
        latency = record.get("latency_s")
        latency = float(latency) if isinstance(latency, int | float) else None
        cost = None
        if pricing is not None and model is not None and usage:
            try:
                cost = pricing(model, usage)
            except Exception:  # a broken price list prices nothing; it never breaks a hit
                cost = None
        return cls(
            model,
            _count(usage, "total_tokens"),
            _count(usage, "prompt_tokens"),
            _count(usage, "completion_tokens"),
            latency,
            cost,
        )


def _count(usage: Mapping[str, Any] | None, name: str) -> int | None:
    value = None if usage is None else usage.get(name)
    return value if type(value) is int else None


def make_pricing(pricing: object) -> Pricing | None:
    """``Cache(pricing=...)`` as a callable, validated before any I/O."""
    if pricing is None:
        return None
    if callable(pricing):
        return pricing
    if not isinstance(pricing, Mapping):
        raise ConfigurationError(
            "pricing must be a mapping {model: {'input': $, 'output': $}} (dollars per "
            f"million tokens) or a callable (model, usage) -> dollars, got {pricing!r}"
        )
    table: dict[str, tuple[float, float]] = {}
    for model, prices in pricing.items():
        if not isinstance(model, str) or not isinstance(prices, Mapping):
            raise ConfigurationError(f"pricing for {model!r} must be {{'input': $, 'output': $}}")
        rates = []
        for side in ("input", "output"):
            rate = prices.get(side, 0.0)
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate >= 0:
                raise ConfigurationError(f"pricing[{model!r}][{side!r}] must be a price >= 0")
            rates.append(float(rate) / 1e6)
        table[model] = (rates[0], rates[1])

    def price(model: str, usage: Mapping[str, int]) -> float | None:
        rates = table.get(model)
        if rates is None:
            return None
        return (
            usage.get("prompt_tokens", 0) * rates[0] + usage.get("completion_tokens", 0) * rates[1]
        )

    return price
