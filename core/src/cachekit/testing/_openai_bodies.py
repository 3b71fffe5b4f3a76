"""What :class:`~cachekit.testing.OpenAIServer` answers: OpenAI-shaped JSON bodies.

Pure functions of the request and a call number ``n`` (the server's counter), so
every answer but an embedding is distinct and each can be checked on its own
against the SDK's models (the helper's tests ``model_validate`` every shape, so a
cache that rebuilds a stored answer with validation gets a complete object).

Streams are lists of JSON events; the server frames them as SSE.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from collections.abc import Mapping
from typing import Any

__all__ = [
    "chat_completion",
    "chat_completion_chunks",
    "embedding_vector",
    "embeddings",
    "response",
    "response_events",
    "text_completion",
    "text_completion_chunks",
    "transcription",
]

JSON = dict[str, Any]

#: ``created`` of the ``n``-th answer (a fixed epoch keeps answers reproducible).
EPOCH = 1_700_000_000
#: Embedding width when the request gives no ``dimensions``.
DEFAULT_DIMENSIONS = 8


def _pieces(text: str, width: int = 0) -> list[str]:
    """``text`` cut into stream deltas: words with their trailing space, or fixed widths."""
    if width:
        return [text[i : i + width] for i in range(0, len(text), width)] or [""]
    return re.findall(r"\S+\s*", text) or [text]


def _schema_instance(schema: Mapping[str, Any], defs: Mapping[str, Any], n: int) -> Any:
    """A value valid for a (pydantic-style) JSON schema: enough for ``parse`` and tools."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _schema_instance(defs[ref.rsplit("/", 1)[-1]], defs, n)
    for union in ("anyOf", "oneOf", "allOf"):
        options = schema.get(union)
        if isinstance(options, list) and options:
            usable = [o for o in options if o.get("type") != "null"] or options
            return _schema_instance(usable[0], defs, n)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _schema_instance(sub, defs, n) for name, sub in props.items()}
    if kind == "array":
        return [_schema_instance(schema.get("items", {}), defs, n)]
    return {"integer": n, "number": n + 0.5, "boolean": True, "null": None}.get(kind, f"value {n}")


def _json_for(schema: Mapping[str, Any] | None, n: int) -> str:
    schema = schema or {}
    return json.dumps(_schema_instance(schema, schema.get("$defs", {}), n))


def _usage(prompt: int, completion: int) -> JSON:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _prompt_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value).split()))


def _tool_call(body: Mapping[str, Any], n: int) -> tuple[str, str, str] | None:
    """``(call id, function name, JSON arguments)`` when the request offers tools."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools or body.get("tool_choice") == "none":
        return None
    function = tools[0].get("function", {})
    return f"call_{n}", str(function.get("name", "tool")), _json_for(function.get("parameters"), n)


def _chat_text(body: Mapping[str, Any], n: int) -> str:
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        return _json_for(fmt.get("json_schema", {}).get("schema"), n)
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        return json.dumps({"answer": n})
    return f"Answer {n} from the test server."


def chat_completion(body: Mapping[str, Any], n: int) -> JSON:
    """A ``ChatCompletion``: text, schema-valid JSON, or a tool call when tools are given."""
    call = _tool_call(body, n)
    message: JSON = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if call is None:
        message["content"] = _chat_text(body, n)
    else:
        call_id, name, arguments = call
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        ]
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": EPOCH + n,
        "model": str(body.get("model", "gpt-4o-mini")),
        "system_fingerprint": "fp_test",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "stop" if call is None else "tool_calls",
            }
        ],
        "usage": _usage(_prompt_tokens(body.get("messages")), 8),
    }


def chat_completion_chunks(body: Mapping[str, Any], n: int) -> list[JSON]:
    """The ``ChatCompletionChunk`` events of a streamed chat completion, in order: a role
    chunk, content (or tool-call argument) deltas, a finish chunk and, when asked for
    with ``stream_options.include_usage``, a usage chunk with no choices."""
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    head: JSON = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion.chunk",
        "created": EPOCH + n,
        "model": str(body.get("model", "gpt-4o-mini")),
        "system_fingerprint": "fp_test",
        "service_tier": "default",
    }
    if with_usage:
        head["usage"] = None

    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice]}

    call = _tool_call(body, n)
    events = [chunk({"role": "assistant", "content": "" if call is None else None})]
    if call is None:
        fmt = body.get("response_format")
        structured = isinstance(fmt, Mapping) and fmt.get("type") != "text"
        text = _chat_text(body, n)
        events += [chunk({"content": p}) for p in _pieces(text, 6 if structured else 0)]
    else:
        call_id, name, arguments = call
        first = {"index": 0, "id": call_id, "type": "function"}
        events.append(
            chunk({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]})
        )
        events += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
            for p in _pieces(arguments, 5)
        ]
    events.append(chunk({}, "stop" if call is None else "tool_calls"))
    if with_usage:
        usage = _usage(_prompt_tokens(body.get("messages")), len(events) - 2)
        events.append({**head, "choices": [], "usage": usage})
    return events


def text_completion(body: Mapping[str, Any], n: int) -> JSON:
    """A legacy ``Completion`` (``/v1/completions``)."""
    return {
        "id": f"cmpl-{n}",
        "object": "text_completion",
        "created": EPOCH + n,
        "model": str(body.get("model", "gpt-3.5-turbo-instruct")),
        "system_fingerprint": "fp_test",
        "choices": [
            {
                "index": 0,
                "text": f" completion {n} from the test server.",
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(_prompt_tokens(body.get("prompt")), 6),
    }


def text_completion_chunks(body: Mapping[str, Any], n: int) -> list[JSON]:
    """The streamed form of :func:`text_completion` (each event is a ``Completion``)."""
    whole = text_completion(body, n)
    head = {k: v for k, v in whole.items() if k not in ("choices", "usage")}
    text = whole["choices"][0]["text"]
    events = [
        {**head, "choices": [{"index": 0, "text": p, "logprobs": None, "finish_reason": None}]}
        for p in _pieces(text)
    ]
    events.append(
        {**head, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}]}
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append({**head, "choices": [], "usage": whole["usage"]})
    return events


def embedding_vector(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The deterministic vector the server gives ``text``: multiples of 1/128 in
    [-1, 1), exact in float32 so the base64 form decodes to the same floats."""
    out: list[float] = []
    block = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        out += [(b - 128) / 128 for b in digest]
        block += 1
    return out[:dimensions]


def embeddings(body: Mapping[str, Any]) -> JSON:
    """A ``CreateEmbeddingResponse`` for a ``str`` or list ``input`` (token lists are
    embedded by their JSON text), float or ``encoding_format="base64"``."""
    raw = body.get("input", "")
    items = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else list(raw)
    dimensions = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    as_base64 = body.get("encoding_format") == "base64"
    data: list[JSON] = []
    for index, item in enumerate(items):
        vector = embedding_vector(item if isinstance(item, str) else json.dumps(item), dimensions)
        value: Any = vector
        if as_base64:
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(_prompt_tokens(item) for item in items)
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model", "text-embedding-3-small")),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def transcription(fields: Mapping[str, str], audio: bytes, n: int) -> JSON | str:
    """A transcription of ``audio``: ``Transcription`` (json), ``TranscriptionVerbose``
    (verbose_json) or plain text (text/srt/vtt), naming the call and the audio's digest."""
    text = f"Transcript {n} of {len(audio)} bytes ({hashlib.sha256(audio).hexdigest()[:12]})."
    fmt = fields.get("response_format", "json")
    if fmt in ("text", "srt", "vtt"):
        return text
    if fmt == "verbose_json":
        segment = {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 1.5,
            "text": text,
            "tokens": [n, 1, 2],
            "temperature": 0.0,
            "avg_logprob": -0.25,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.01,
        }
        return {
            "task": "transcribe",
            "language": fields.get("language", "english"),
            "duration": 1.5,
            "text": text,
            "segments": [segment],
            "usage": {"type": "duration", "seconds": 2},
        }
    return {"text": text, "usage": {"type": "duration", "seconds": 2}}


def response(body: Mapping[str, Any], n: int, status: str = "completed") -> JSON:
    """A Responses API ``Response`` with one output message (empty while in progress)."""
    text = f"Response {n} from the test server."
    message = {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }
    done = status == "completed"
    tokens = _prompt_tokens(body.get("input"))
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": EPOCH + n,
        "completed_at": EPOCH + n + 1 if done else None,
        "status": status,
        "model": str(body.get("model", "gpt-4o-mini")),
        "output": [message] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": 1.0,
        "top_p": 1.0,
        "instructions": body.get("instructions"),
        "metadata": {},
        "text": {"format": {"type": "text"}},
        "usage": {
            "input_tokens": tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 6,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tokens + 6,
        }
        if done
        else None,
    }


def response_events(body: Mapping[str, Any], n: int) -> list[JSON]:
    """The typed events of a streamed Response, ``sequence_number`` in order: created,
    output item and content part added, text deltas, their ``done`` twins, completed."""
    final = response(body, n)
    message = final["output"][0]
    part = message["content"][0]
    text = part["text"]
    where = {"item_id": message["id"], "output_index": 0, "content_index": 0}
    events: list[JSON] = [
        {"type": "response.created", "response": response(body, n, "in_progress")},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**message, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": {**part, "text": ""}},
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": p, "logprobs": []}
        for p in _pieces(text)
    ]
    events += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part},
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.completed", "response": final},
    ]
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]
