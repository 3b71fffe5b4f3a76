"""``cachekit demo``: one request, twice, through a ``local`` cache: a miss, then a hit.

The provider is simulated (an ``async`` function that sleeps like a real API call),
so the demo runs offline, costs nothing and shows what a cache buys.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio

from cachekit._cache import Cache
from cachekit._cli._output import EXIT_OK, EXIT_USAGE, CliError, Output, format_seconds, table

__all__ = ["run_demo"]

_REQUEST: dict[str, Any] = {
    "model": "demo-model",
    "messages": [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "temperature": 0,
}


async def _demo(latency: float) -> dict[str, Any]:
    provider_calls = 0

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        """Stands in for ``litellm.acompletion`` / ``client.chat.completions.create``."""
        nonlocal provider_calls
        provider_calls += 1
        await anyio.sleep(latency)
        return {
            "id": f"chatcmpl-demo-{provider_calls}",
            "object": "chat.completion",
            "model": kwargs["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Paris."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 24, "completion_tokens": 2, "total_tokens": 26},
        }

    async with Cache(type="local", namespace="demo") as cache:
        call = cache.cached("acompletion")(acompletion)
        calls = []
        for number in (1, 2):
            before = provider_calls
            start = time.perf_counter()
            result = await call(**_REQUEST)
            elapsed = time.perf_counter() - start
            called = provider_calls > before
            calls.append(
                {
                    "call": number,
                    "outcome": "miss" if called else "hit",
                    "provider_called": called,
                    "seconds": elapsed,
                    "answer": result["choices"][0]["message"]["content"],
                }
            )
        return {
            "backend": cache.type,
            "provider_latency_s": latency,
            "request": _REQUEST,
            "key": cache.get_cache_key(**_REQUEST),
            "calls": calls,
            "provider_calls": provider_calls,
            "stats": cache.stats().as_dict(),
        }


def run_demo(args: argparse.Namespace, out: Output) -> int:
    if args.latency < 0:
        raise CliError("--latency must not be negative", EXIT_USAGE)
    doc = anyio.run(_demo, args.latency)
    out.result(doc, lambda: _render(doc))
    return EXIT_OK


def _render(doc: dict[str, Any]) -> str:
    miss, hit = doc["calls"]
    rows = [
        [
            c["call"],
            c["outcome"],
            "yes" if c["provider_called"] else "no",
            format_seconds(c["seconds"]),
        ]
        for c in doc["calls"]
    ]
    lines = [
        "cachekit demo: the same chat completion request twice, through a local cache",
        f"(the provider is simulated: it answers after {doc['provider_latency_s']:g} s)",
        "",
        table(["call", "outcome", "provider called", "time"], rows),
        "",
    ]
    if hit["outcome"] == "hit" and hit["seconds"] > 0:
        lines.append(
            f"The hit was {miss['seconds'] / hit['seconds']:,.0f}x faster; same answer: {hit['answer']!r}"
        )
    stats = doc["stats"]
    lines += [
        f"key      {doc['key']}",
        f"counters hits {stats['hits']}, misses {stats['misses']}, stores {stats['stores']}",
    ]
    return "\n".join(lines)
