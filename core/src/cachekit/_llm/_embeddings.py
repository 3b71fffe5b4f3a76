"""Per-item embedding caching for requests whose ``input`` is a list.

Every item is its own entry, keyed as the same request with ``input=[item]``
(so a one-item list and a per-item entry are the same thing, and a plain string
``input`` keeps its own whole-response entry). A batch is read in one backend
round trip; the provider is called once with only the missing, de-duplicated
items; the answer is merged back in request order with ``index`` renumbered and
``usage`` counting only what the provider billed for this call.

The planning and merging here are pure; the wrapper does the I/O, sync or async.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cachekit._policy._envelope import to_json_value
from cachekit._policy._models import model_name

__all__ = ["EmbeddingPlan", "item_id", "per_item_inputs"]


def per_item_inputs(kwargs: dict[str, Any]) -> list[Any] | None:
    """The items of a list ``input`` (strings or token lists), or ``None``.

    A flat list of ints is a single tokenised input, not a batch.
    """
    inputs = kwargs.get("input")
    if not isinstance(inputs, list | tuple) or not inputs:
        return None
    for item in inputs:
        if isinstance(item, str):
            continue
        if isinstance(item, list | tuple) and all(type(t) is int for t in item):
            continue
        return None
    return list(inputs)


def item_id(item: Any) -> Any:
    return item if isinstance(item, str) else tuple(item)


@dataclass
class EmbeddingPlan:
    """What to fetch, what to ask the provider for, and how to merge."""

    inputs: list[Any]
    unique: list[Any] = field(default_factory=list)  # de-duplicated, first-seen order
    cached: dict[Any, dict[str, Any]] = field(default_factory=dict)  # item id -> stored item
    #: The class of the items inside the SDK's response (``Embedding``), when they are models.
    item_model: str | None = None
    #: Each item's share of the token usage of the call that produced it.
    usage: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[Any] = set()
        for item in self.inputs:
            ident = item_id(item)
            if ident not in seen:
                seen.add(ident)
                self.unique.append(item)

    def missing(self) -> list[Any]:
        return [item for item in self.unique if item_id(item) not in self.cached]

    def accept(self, item: Any, stored: Any, meta: dict[str, Any] | None = None) -> bool:
        """Record a stored per-item value; reject anything that is not one."""
        if isinstance(stored, dict) and isinstance(stored.get("embedding"), list | str):
            self.cached[item_id(item)] = stored
            meta = meta or {}
            model = meta.get("item_model")
            if isinstance(model, str) and self.item_model is None:
                self.item_model = model
            record = meta.get("llm")
            if isinstance(record, dict) and isinstance(record.get("usage"), dict):
                self.usage[item_id(item)] = record["usage"]
            return True
        return False

    def split(self, response: Any, asked: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The provider response as JSON and one storable item per asked input, in order;
        each asked item's share of the call's usage is recorded (see :func:`usage_shares`)."""
        data_objects = getattr(response, "data", None)
        if (
            isinstance(data_objects, list)
            and data_objects
            and hasattr(data_objects[0], "model_dump")
        ):
            self.item_model = model_name(type(data_objects[0]))
        doc = to_json_value(response)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise ValueError("embedding response has no 'data' list")
        data = sorted(doc["data"], key=lambda d: d.get("index", 0))
        if len(data) != len(asked):
            raise ValueError(f"embedding response has {len(data)} items for {len(asked)} inputs")
        model = doc.get("model")
        items = []
        for element in data:
            item = {k: v for k, v in element.items() if k != "index"}
            if model is not None:
                item.setdefault("model", model)
            items.append(item)
        usage = doc.get("usage")
        if isinstance(usage, dict):
            for asked_item, share in zip(asked, usage_shares(usage, len(asked)), strict=True):
                self.usage[item_id(asked_item)] = share
        return doc, items

    def merge(self, fresh_doc: dict[str, Any] | None) -> dict[str, Any]:
        """The whole response in request order (``fresh_doc`` is the provider's answer
        for the missing items, already recorded with :meth:`accept`)."""
        data = []
        model = None
        for index, item in enumerate(self.inputs):
            stored = dict(self.cached[item_id(item)])
            model = model or stored.pop("model", None)
            stored.pop("model", None)
            stored["index"] = index
            stored.setdefault("object", "embedding")
            data.append(stored)
        out: dict[str, Any] = {"object": "list", "data": data, "model": model}
        if fresh_doc is not None:  # usage: what the provider billed for this call
            out.update({k: v for k, v in fresh_doc.items() if k != "data"})
        else:
            out["usage"] = {"prompt_tokens": 0, "total_tokens": 0}
        return out

    def saved_usage(self) -> dict[str, Any] | None:
        """The usage the cached items cost when they were fetched (what this call saved),
        or ``None`` when some cached item's share is unknown."""
        shares = [self.usage.get(item_id(i)) for i in self.inputs if item_id(i) in self.cached]
        if not shares or any(s is None for s in shares):
            return None
        return sum_usage([s for s in shares if s is not None])


def usage_shares(usage: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``usage`` split into ``n`` shares whose integer counts add up exactly."""
    shares: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in usage.items():
        for i, share in enumerate(shares):
            if isinstance(value, bool) or not isinstance(value, int | float):
                share[key] = value
            elif isinstance(value, int):
                share[key] = value // n + (1 if i < value % n else 0)
            else:
                share[key] = value / n
    return shares


def sum_usage(shares: list[dict[str, Any]]) -> dict[str, Any]:
    """The usage of several items: counts added, other fields from the first share."""
    total: dict[str, Any] = {}
    for share in shares:
        for key, value in share.items():
            current = total.get(key)
            numeric = not isinstance(value, bool) and isinstance(value, int | float)
            if key not in total:
                total[key] = value
            elif numeric and not isinstance(current, bool) and isinstance(current, int | float):
                total[key] = current + value
    return total
