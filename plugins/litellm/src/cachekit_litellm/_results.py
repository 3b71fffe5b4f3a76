"""What is stored for LiteLLM, and what LiteLLM gets back.

Whole responses are stored as the JSON data LiteLLM's own cache keeps (its
``model_dump_json(exclude_unset=True)``): LiteLLM hands the async path that JSON as a
string and the sync path the response object, and both become the same data, so a
sync call and its async twin share entries. LiteLLM rebuilds its response types from
that data on a hit.

Embeddings are stored one entry per input item in LiteLLM's own per-item format
(``CachedEmbedding``, format version 2), which its async path reads back to answer
partial hits. The sync path gets the same entries: LiteLLM's sync embedding stores the
whole response under the whole request's key, which for a single input is the key of
that input's item entry, so the two paths would read each other's entries wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cachekit_litellm._compat import EMBEDDING_FORMAT

__all__ = [
    "embedding_entries",
    "embedding_items",
    "embedding_response",
    "is_embedding_entry",
    "stored_value",
]

_ENTRY_FIELDS = (
    "embedding",
    "index",
    "object",
    "model",
    "prompt_tokens",
    "prompt_tokens_details",
    "format_version",
)


def stored_value(result: Any) -> Any:
    """``result`` as the JSON data stored for it: a pydantic response dumped as LiteLLM
    dumps it, a JSON string (LiteLLM's async path) parsed, anything else as given."""
    if hasattr(result, "model_dump_json"):
        return json.loads(result.model_dump_json(exclude_unset=True, warnings=False))
    if isinstance(result, str) and result[:1] in ("{", "["):
        try:
            return json.loads(result)
        except ValueError:
            return result
    return result


def embedding_items(inputs: Any) -> list[Any]:
    """An embedding request's ``input`` as the list of items LiteLLM caches one by one."""
    return list(inputs) if isinstance(inputs, list) else [inputs]


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _shares(total: Any, count: int) -> list[Any]:
    """``total`` split over ``count`` items as LiteLLM splits usage (remainder first), so
    the shares of the items a hit serves add up to what the provider billed for them."""
    if isinstance(total, bool) or not isinstance(total, int | float) or count <= 1:
        return [total] * count
    if isinstance(total, float):
        return [total / count] * count
    quotient, remainder = divmod(total, count)
    return [quotient + (1 if i < remainder else 0) for i in range(count)]


def _details_shares(details: Any, count: int) -> list[dict[str, Any] | None]:
    if details is None:
        return [None] * count
    plain = details.model_dump(exclude_none=True) if hasattr(details, "model_dump") else details
    if not isinstance(plain, Mapping) or not plain:
        return [None] * count
    columns = {key: _shares(value, count) for key, value in plain.items() if value is not None}
    return [{key: shares[i] for key, shares in columns.items()} for i in range(count)]


def embedding_entries(result: Any, count: int) -> list[dict[str, Any]] | None:
    """The per-item entries of an embedding response for ``count`` inputs (item ``i``
    answers input ``i``), or ``None`` when the response does not have one item per
    input (LiteLLM's mocked embeddings, for one, answer a list with a single item)."""
    data = _field(result, "data")
    if not isinstance(data, Sequence) or len(data) != count:
        return None
    usage = _field(result, "usage")
    tokens = _shares(_field(usage, "prompt_tokens"), count)
    details = _details_shares(_field(usage, "prompt_tokens_details"), count)
    model = _field(result, "model")
    return [
        {
            "embedding": _field(item, "embedding"),
            "index": _field(item, "index"),
            "object": _field(item, "object"),
            "model": model,
            "prompt_tokens": tokens[i],
            "prompt_tokens_details": details[i],
            "format_version": EMBEDDING_FORMAT,
        }
        for i, item in enumerate(data)
    ]


def is_embedding_entry(value: Any) -> bool:
    """Whether ``value`` is a per-item entry LiteLLM's async path accepts."""
    return (
        isinstance(value, Mapping)
        and all(name in value for name in _ENTRY_FIELDS)
        and value["format_version"] == EMBEDDING_FORMAT
        and value["embedding"] is not None
    )


def embedding_response(entries: Sequence[Mapping[str, Any]], model: Any) -> Any:
    """A whole ``EmbeddingResponse`` from one entry per input, as LiteLLM's async path
    builds one when every item hits (usage: the prompt tokens the entries were billed)."""
    from litellm.types.utils import Embedding, EmbeddingResponse, Usage

    tokens = sum(t for e in entries if isinstance(t := e.get("prompt_tokens"), int))
    response = EmbeddingResponse(
        model=next((e["model"] for e in entries if e.get("model")), model),
        data=[
            Embedding(embedding=e["embedding"], index=i, object="embedding")
            for i, e in enumerate(entries)
        ],
    )
    response.usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
    return response
