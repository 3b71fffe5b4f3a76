"""How often the default semantic settings answer a different question (issue 15, item 4).

``data/semantic_pairs.json`` holds hand-labelled prompt pairs: ``near_miss`` pairs ask
different questions (another number, a negation, swapped or different entities, units,
languages and code identifiers, opposites) and must never be answered from each other's
entry; ``paraphrase`` pairs ask the same (case, punctuation, whitespace, courtesy,
filler moved, typos, contractions, number formats, symmetric "A or B") and may be.

Each pair is measured through a real ``Cache(type="local-semantic")`` with every
default: the ``hash`` embedder, the 0.9 threshold and the built-in verifier. One prompt
is stored, the other asked, in both directions; a pair *hits* when either direction is
served from the cache. Run with ``-s`` to see the rates per category::

    .venv/bin/pytest core/tests/test_semantic_verify_dataset.py -q -s
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pluggy
import pytest
from cachekit import Cache, build_plugin_manager

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data" / "semantic_pairs.json"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "stored answer"}}]}

#: The acceptance bar of the issue: at most 1 % of near-miss pairs served.
MAX_FALSE_HIT_RATE = 0.01
#: What the defaults achieve on the paraphrases today (65 of 116, 56 %), rounded down:
#: a change that costs hits shows here.
MIN_PARAPHRASE_HIT_RATE = 0.55
#: Without a verifier the set must be hard: the threshold alone serves this many
#: near misses (99 of 271, 36.5 %), else the false-hit bar above would prove nothing.
MIN_UNVERIFIED_FALSE_HIT_RATE = 0.30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def load_pairs() -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))["pairs"]
    return pairs


def chat(text: str) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}


async def served(pm: pluggy.PluginManager, stored: str, asked: str) -> bool:
    cache = Cache(type="local-semantic", plugins=pm)
    try:
        await cache.async_add_cache(ANSWER, **chat(stored))
        return await cache.async_get_cache(**chat(asked)) is not None
    finally:
        await cache.aclose()


async def measure(pm: pluggy.PluginManager) -> dict[str, Counter[tuple[str, str]]]:
    """Per (kind, category): how many pairs there are and how many hit."""
    counts: dict[str, Counter[tuple[str, str]]] = {"pairs": Counter(), "hits": Counter()}
    for pair in load_pairs():
        group = (pair["kind"], pair["category"])
        counts["pairs"][group] += 1
        if await served(pm, pair["a"], pair["b"]) or await served(pm, pair["b"], pair["a"]):
            counts["hits"][group] += 1
    return counts


def rate(counts: dict[str, Counter[tuple[str, str]]], kind: str) -> tuple[int, int]:
    hits = sum(n for (k, _), n in counts["hits"].items() if k == kind)
    total = sum(n for (k, _), n in counts["pairs"].items() if k == kind)
    return hits, total


def report(title: str, counts: dict[str, Counter[tuple[str, str]]]) -> None:
    print(f"\n{title}")
    for group in sorted(counts["pairs"]):
        print(
            f"  {group[0]:<10} {group[1]:<18} {counts['hits'][group]:>3} / {counts['pairs'][group]}"
        )
    for kind in ("near_miss", "paraphrase"):
        hits, total = rate(counts, kind)
        print(f"  {kind} hit rate: {hits}/{total} = {hits / total:.1%}")


def test_the_dataset_is_labelled_and_large_enough() -> None:
    pairs = load_pairs()
    assert len(pairs) >= 200
    kinds = Counter(p["kind"] for p in pairs)
    assert set(kinds) == {"near_miss", "paraphrase"} and min(kinds.values()) >= 50
    for pair in pairs:
        assert isinstance(pair["a"], str) and isinstance(pair["b"], str) and pair["a"] != pair["b"]
        assert pair["split"] in ("development", "held_out")
    texts = {(p["a"], p["b"]) for p in pairs if p["kind"] == "near_miss"}
    assert (
        "What is 1234\N{MULTIPLICATION SIGN}5678?",
        "What is 1234\N{MULTIPLICATION SIGN}5679?",
    ) in texts  # the examples
    assert (
        "Is it safe to eat raw cookie dough?",
        "Is it not safe to eat raw cookie dough?",
    ) in texts


async def test_the_defaults_serve_at_most_one_percent_of_near_misses() -> None:
    counts = await measure(build_plugin_manager(autoload=False))
    report("default settings (hash embedder, threshold 0.9, default verifier)", counts)
    hits, total = rate(counts, "near_miss")
    assert hits / total <= MAX_FALSE_HIT_RATE
    hits, total = rate(counts, "paraphrase")
    assert hits / total >= MIN_PARAPHRASE_HIT_RATE


async def test_without_the_verifier_the_threshold_alone_serves_near_misses() -> None:
    pm = build_plugin_manager(autoload=False)
    pm.unregister(name="cachekit._semantic._verify")
    counts = await measure(pm)
    report("threshold only (default verifier unregistered)", counts)
    hits, total = rate(counts, "near_miss")
    assert hits / total >= MIN_UNVERIFIED_FALSE_HIT_RATE
