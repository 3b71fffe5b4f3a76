"""Cache-key derivation for a chat completion request (~1 KB and ~20 KB).

Two messages (system + user): LiteLLM skips caching above ``max_messages=4``, so the
payloads stay under it for a like-for-like comparison. The floor (issue 17) is
``sha256(orjson.dumps(kwargs, OPT_SORT_KEYS))``: what canonical bytes plus a digest
cost at the speed of the machine; the stdlib ``json`` version is shown for reference.
Targets: ≤ 1.5x / ≤ 1.1x the floor at 1 KB / 20 KB, and ≥ 3x faster than LiteLLM.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from benchmarks import peers
from benchmarks.harness import Ctx, Op, Target, Workload

ORDER = 10

_WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "caching",
    "layers", "answer", "repeated", "requests", "from", "memory", "instead", "of", "calling",
    "the", "provider", "again",
]  # fmt: skip


def request_kwargs(size: int) -> dict[str, Any]:
    """Chat completion kwargs whose JSON form is about ``size`` bytes."""
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer concisely."},
            {"role": "user", "content": ""},
        ],
        "temperature": 0.2,
        "top_p": 1.0,
        "max_tokens": 256,
        "seed": 7,
        "user": "bench-user",
    }
    words: list[str] = []
    i = 0
    while len(json.dumps(kwargs)) < size:
        words.append(f"{_WORDS[i % len(_WORDS)]}{i % 97}")
        kwargs["messages"][1]["content"] = " ".join(words)
        i += 1
    return kwargs


def floor_key(kwargs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(kwargs, sort_keys=True).encode()).hexdigest()


def orjson_floor_key(kwargs: dict[str, Any]) -> str:
    import orjson

    return hashlib.sha256(orjson.dumps(kwargs, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _build(size: int) -> Any:
    def build(ctx: Ctx) -> None:
        kwargs = request_kwargs(size)

        ctx.add(
            "sha256(orjson.dumps(OPT_SORT_KEYS))",
            lambda: lambda: orjson_floor_key(kwargs),
            floor=True,
        )
        ctx.add("sha256(json.dumps(sort_keys=True))", lambda: lambda: floor_key(kwargs))

        def cachekit_op() -> Op:
            from cachekit import Cache

            cache = Cache(type="local")
            ctx.defer(cache.aclose)
            return lambda: cache.get_cache_key(**kwargs)

        ctx.add("cachekit Cache.get_cache_key", cachekit_op, targeted=True)

        def litellm_op() -> Op:
            cache = peers.litellm_cache(type="local")
            return lambda: cache.get_cache_key(**kwargs)

        ctx.add("LiteLLM Cache.get_cache_key", litellm_op)

    return build


WORKLOADS = [
    Workload(
        f"key derivation, {label} messages",
        build=_build(size),
        target=Target(f"≤ {ratio:g}x floor", ratio_max=ratio),
    )
    for label, size, ratio in (("1 KB", 1024, 1.5), ("20 KB", 20 * 1024, 1.1))
]
