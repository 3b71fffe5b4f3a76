"""Throughput of the default ``hash`` embedder (the semantic backends' offline default).

Each miss of a semantic cache embeds the prompt once, so this is a per-miss cost on
top of the lookup. Rows: one short prompt, one ~1 KB prompt, and a batch of 64
short prompts through the async embedder interface (what the core calls). The notes
give texts per second (1e9 / median ns per text). There is no floor: the embedder
is pure Python (BLAKE2b per word/bigram/character n-gram), with no peer to compare.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Ctx, Op, Row, Settings, Workload, run_micro

ORDER = 61
NAME = "hash embedder (384 dims)"
SHORT = "user: What is the capital of France?"
_WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "caching",
    "layers",
    "answer",
    "requests",
]
LONG = "user: " + " ".join(_WORDS[i % len(_WORDS)] for i in range(170))[:1000]
BATCH = 64


def build(ctx: Ctx) -> None:
    def one(text: str) -> Any:
        def make() -> Op:
            from cachekit import HashEmbedder

            embedder = HashEmbedder()
            return lambda: embedder.embed_one(text)

        return make

    ctx.add(f"embed_one, {len(SHORT)}-char prompt", one(SHORT))
    ctx.add(f"embed_one, {len(LONG)}-char prompt", one(LONG))

    def batch() -> Op:
        from cachekit import HashEmbedder

        embedder = HashEmbedder()
        texts = [f"{SHORT} #{i}" for i in range(BATCH)]
        return lambda: embedder(texts)

    ctx.add(f"await embedder(texts), batch of {BATCH} short prompts", batch)


def measure(settings: Settings) -> list[Row]:
    rows = run_micro(Workload(NAME, build=build), settings)
    for row in rows:
        if row.median:
            per_batch = BATCH if "batch" in row.impl else 1
            rate = per_batch * 1e9 / row.median
            row.note = f"{rate:,.0f} texts/s" + (f" ({per_batch} per op)" if per_batch > 1 else "")
    return rows


WORKLOADS = [Workload(NAME, measure=measure)]
