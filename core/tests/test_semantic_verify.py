"""The semantic-hit verifier (issue 15, item 4): the ``cachekit_semantic_verify`` hook,
what a semantic cache stores for it, and the default verifier on the prompts the issue
reported. Every cache is a real ``local-semantic`` cache with the default ``hash``
embedder and threshold (0.9) and a :class:`FakeClock`; the end-to-end test drives the
real ``openai`` SDK against a loopback server and counts requests there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pluggy
import pytest
from cachekit import Cache, CacheEvent, hookimpl
from cachekit._policy._envelope import decode_entry, encode_entry
from cachekit._semantic._embedders import HashEmbedder
from cachekit._semantic._verify import SemanticPrompt, differences
from cachekit.exceptions import PluginError
from cachekit.testing import FakeClock, OpenAIServer

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"
REWORDED = "what is the capital of france"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}
DEFAULT_VERIFIER = "cachekit._semantic._verify"

#: The two defects of the issue, as prompts that embed above the default threshold
#: today (the issue gave the similarities, 0.952 and 0.956, not the full prompts).
PRODUCT = (
    "What is 1234\N{MULTIPLICATION SIGN}5678? Please reply with only the final integer result and no explanation.",
    "What is 1234\N{MULTIPLICATION SIGN}5679? Please reply with only the final integer result and no explanation.",
)
SAFE = (
    "Is it safe to use a space heater overnight in a small bedroom with the door closed?",
    "Is it not safe to use a space heater overnight in a small bedroom with the door closed?",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_cache(pm: pluggy.PluginManager) -> Callable[..., Cache]:
    def make(**options: Any) -> Cache:
        return Cache(type="local-semantic", plugins=pm, clock=FakeClock(), **options)

    return make


def chat(text: str, **params: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **params}


def similarity(a: str, b: str) -> float:
    """The cosine the core computes for two single-user-message prompts under ``hash``."""
    embed = HashEmbedder()
    va, vb = embed.embed_one(f"user: {a}"), embed.embed_one(f"user: {b}")
    return sum(x * y for x, y in zip(va, vb, strict=True))


class Verdict:
    """A verifier plugin that answers ``verdict`` and records what it was shown."""

    def __init__(self, verdict: Any) -> None:
        self.verdict = verdict
        self.calls: list[tuple[str, SemanticPrompt, SemanticPrompt, float]] = []

    @hookimpl
    def cachekit_semantic_verify(
        self, call_type: str, request: SemanticPrompt, candidate: SemanticPrompt, similarity: float
    ) -> Any:
        self.calls.append((call_type, request, candidate, similarity))
        if isinstance(self.verdict, BaseException):
            raise self.verdict
        return self.verdict


class Events:
    """An observer plugin keeping the misses and errors it sees."""

    def __init__(self) -> None:
        self.events: list[CacheEvent] = []

    @hookimpl
    def cachekit_on_miss(self, event: CacheEvent) -> None:
        self.events.append(event)

    @hookimpl
    def cachekit_on_error(self, event: CacheEvent) -> None:
        self.events.append(event)


# -- the issue's examples ------------------------------------------------------------------
@pytest.mark.parametrize("pair", [PRODUCT, SAFE], ids=["number", "negation"])
async def test_the_issues_examples_miss_with_the_defaults(
    make_cache: Callable[..., Cache], pair: tuple[str, str]
) -> None:
    stored, asked = pair
    assert similarity(stored, asked) > 0.9  # a candidate under the default threshold
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(stored))
    assert await cache.async_get_cache(**chat(asked)) is None
    assert await cache.async_get_cache(**chat(stored)) == ANSWER  # the entry is there
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.errors) == (1, 1, 0)


async def test_a_rewording_still_hits(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(QUESTION))
    assert await cache.async_get_cache(**chat(REWORDED)) == ANSWER


async def test_a_rejected_candidate_calls_the_provider_and_stores_its_answer(
    make_cache: Callable[..., Cache],
) -> None:
    """Through the real ``openai`` SDK: the rejected near match costs one request, and the
    fresh answer is stored under the new prompt (the next call is an exact hit)."""
    cache = make_cache()
    with OpenAIServer() as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        ) as client:
            create = cache.cached("acompletion")(client.chat.completions.create)
            first = await create(**chat(PRODUCT[0]))
            other = await create(**chat(PRODUCT[1]))
            assert server.count("/chat/completions") == 2
            assert other.id != first.id
            assert (await create(**chat(PRODUCT[1]))).id == other.id
            assert (await create(**chat(PRODUCT[0]))).id == first.id
            assert server.count("/chat/completions") == 2


# -- the hook -------------------------------------------------------------------------------
async def test_a_verifier_returning_false_blocks_a_semantic_hit(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(QUESTION))
    assert await cache.async_get_cache(**chat(REWORDED)) == ANSWER
    blocker = Verdict(False)
    pm.register(blocker)
    assert await cache.async_get_cache(**chat(REWORDED)) is None
    assert len(blocker.calls) == 1
    assert await cache.async_get_cache(**chat(QUESTION)) == ANSWER  # exact hits are not asked
    assert len(blocker.calls) == 1


async def test_a_verifier_returning_true_allows_what_the_default_rejects(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(SAFE[0]))
    assert await cache.async_get_cache(**chat(SAFE[1])) is None
    pm.register(Verdict(True))
    assert await cache.async_get_cache(**chat(SAFE[1])) == ANSWER


async def test_a_verifier_with_no_opinion_defers_to_the_default(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    spy = Verdict(None)
    pm.register(spy)
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(SAFE[0]))
    assert await cache.async_get_cache(**chat(SAFE[1])) is None
    await cache.async_add_cache(ANSWER, **chat(QUESTION))
    assert await cache.async_get_cache(**chat(REWORDED)) == ANSWER
    assert len(spy.calls) == 2


async def test_unregistering_the_default_verifier_by_name(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    assert pm.get_plugin(DEFAULT_VERIFIER) is not None
    pm.unregister(name=DEFAULT_VERIFIER)
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(PRODUCT[0]))
    assert await cache.async_get_cache(**chat(PRODUCT[1])) == ANSWER  # the threshold alone


@pytest.mark.parametrize(
    "verdict",
    [ValueError("verifier broke"), "yes", 1],
    ids=["raises", "a string", "an int"],
)
async def test_a_broken_verifier_rejects_and_reports_an_error(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager, verdict: Any
) -> None:
    observed = Events()
    pm.register(observed)
    pm.register(Verdict(verdict))
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(QUESTION))
    assert await cache.async_get_cache(**chat(REWORDED)) is None
    [error] = [e for e in observed.events if e.kind == "error"]
    assert isinstance(error.error, PluginError)
    assert "cachekit_semantic_verify" in str(error.error)
    assert error.key == cache.get_cache_key(**chat(REWORDED))
    if isinstance(verdict, BaseException):
        assert error.error.__cause__ is verdict
    assert [e.kind for e in observed.events][-2:] == ["error", "miss"]
    assert cache.stats().errors == 1


async def test_the_hook_sees_both_prompts_and_the_similarity_once_per_candidate(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    spy = Verdict(None)
    pm.register(spy)
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(QUESTION, temperature=0))
    assert await cache.async_get_cache(**chat(REWORDED, temperature=0)) == ANSWER
    [(call_type, request, candidate, seen)] = spy.calls
    assert call_type == "completion"
    assert request.text == f"user: {REWORDED}"
    assert request.turns == (("user", REWORDED),)
    assert candidate.text == f"user: {QUESTION}"
    assert candidate.turns == (("user", QUESTION),)
    assert seen == pytest.approx(similarity(QUESTION, REWORDED))
    assert request.key == cache.get_cache_key(**chat(REWORDED, temperature=0))
    assert candidate.key == cache.get_cache_key(**chat(QUESTION, temperature=0))
    assert dict(request.params) == dict(candidate.params) == {"model": MODEL, "temperature": 0}
    assert request.embedder == candidate.embedder == "hash"
    # No candidate (an unrelated prompt) and exact hits: the hook is not called.
    assert await cache.async_get_cache(**chat("How do I bake sourdough bread?")) is None
    assert await cache.async_get_cache(**chat(QUESTION, temperature=0)) == ANSWER
    assert len(spy.calls) == 1


async def test_the_hook_sees_text_completion_prompts(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    spy = Verdict(None)
    pm.register(spy)
    cache = make_cache()
    await cache.async_add_cache(ANSWER, model=MODEL, prompt=PRODUCT[0])
    assert await cache.async_get_cache(model=MODEL, prompt=PRODUCT[1]) is None
    [(call_type, request, candidate, _)] = spy.calls
    assert call_type == "text_completion"
    assert (request.text, candidate.text) == (PRODUCT[1], PRODUCT[0])
    assert candidate.turns == (("prompt", PRODUCT[0]),)


# -- what is stored -----------------------------------------------------------------------
async def test_a_semantic_entry_stores_its_prompt_text_only(
    make_cache: Callable[..., Cache],
) -> None:
    cache = make_cache()
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    params = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Answer tersely."},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}, image]},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "And of Italy?"},
        ],
    }
    await cache.async_add_cache(ANSWER, **params)
    raw = await cache.backend.get(cache.get_cache_key(**params))
    assert raw is not None
    meta = decode_entry(raw).meta
    assert meta == {
        "prompt": {
            "turns": [["user", QUESTION], ["assistant", "Paris."], ["user", "And of Italy?"]],
            "chat": True,
        }
    }


async def test_a_plain_cache_stores_no_prompt_text(pm: pluggy.PluginManager) -> None:
    cache = Cache(type="local", plugins=pm, clock=FakeClock())
    await cache.async_add_cache(ANSWER, **chat(QUESTION))
    raw = await cache.backend.get(cache.get_cache_key(**chat(QUESTION)))
    assert raw is not None and decode_entry(raw).meta is None


async def test_a_prompt_that_is_not_valid_unicode_is_still_cached(
    make_cache: Callable[..., Cache],
) -> None:
    """A lone surrogate cannot go into the entry's JSON header: the entry is stored
    without its prompt text (exact hits work; as a candidate it is unverifiable)."""
    cache = make_cache()
    odd = "What is the capital of France? \ud800"
    await cache.async_add_cache(ANSWER, **chat(odd))
    assert await cache.async_get_cache(**chat(odd)) == ANSWER
    assert await cache.async_get_cache(**chat(odd.upper())) is None
    assert cache.stats().errors == 0


async def test_a_candidate_stored_without_its_prompt_text_is_rejected(
    make_cache: Callable[..., Cache], pm: pluggy.PluginManager
) -> None:
    """An entry written before prompt texts were stored cannot be verified: the default
    rejects it; a verifier of your own is shown ``text=None`` and may still accept."""
    cache = make_cache()
    await cache.async_add_cache(ANSWER, **chat(QUESTION))
    key = cache.get_cache_key(**chat(QUESTION))
    await cache.backend.set(
        key, encode_entry(ANSWER, call_type="completion", created_at=0.0, ttl=None), None
    )
    assert await cache.async_get_cache(**chat(REWORDED)) is None
    spy = Verdict(True)
    pm.register(spy)
    assert await cache.async_get_cache(**chat(REWORDED)) == ANSWER
    [(_, _, candidate, _)] = spy.calls
    assert (candidate.text, candidate.turns) == (None, ())


# -- the default verifier's rules on conversations ----------------------------------------------
def side(*turns: tuple[str, str], embedder: str = "hash") -> SemanticPrompt:
    text = "\n".join(f"{role}: {text}" for role, text in turns)
    return SemanticPrompt(text, turns, {}, "key", embedder)


def test_conversations_are_compared_turn_by_turn() -> None:
    asked = side(("user", "Add 2 and 3."), ("assistant", "5"), ("user", "Now double it."))
    same = side(("user", "add 2 and 3"), ("assistant", "5"), ("user", "Now double it!"))
    other_answer = side(("user", "Add 2 and 3."), ("assistant", "6"), ("user", "Now double it."))
    shorter = side(("user", "Add 2 and 3. 5. Now double it."))
    assert differences(asked, same) == []
    assert differences(asked, other_answer) == ["assistant: numbers ['5'] vs ['6']"]
    assert differences(asked, shorter) == ["the conversations have different turns"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Is it safe to eat raw cookie dough?", "Isn't it safe to eat raw cookie dough?"),
        ("Book a flight from Paris to Rome.", "Book a flight from Rome to Paris."),
        ("Give me a cake recipe with eggs.", "Give me a cake recipe without eggs."),
        ("What changed in Python 3.11?", "What changed in Python 3.12?"),
        ("Convert 5 km to miles.", "Convert 5 miles to km."),
        ("Which team won Super Bowl LVII?", "Which team won Super Bowl LVIII?"),
        ("Explain HTTP.", "Explain HTTPS."),
        ("How do I install numpy?", "How do I install scipy?"),
    ],
)
def test_the_default_rejects(a: str, b: str) -> None:
    assert differences(side(("user", a)), side(("user", b)))
    assert differences(side(("user", b)), side(("user", a)))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is the capital of France?", "WHAT IS THE CAPITAL OF FRANCE"),
        ("Why doesn't my code work?", "Why does my code not work?"),
        ("In Python, how do I reverse a list?", "How do I reverse a list in Python?"),
        ("What is the captial of France?", "What is the capital of France?"),
        ("Give me 3 reasons to learn Rust.", "Give me three reasons to learn Rust, please."),
        ("What happened on 4 July 1976?", "What happened on July 4, 1976?"),
    ],
)
def test_the_default_accepts(a: str, b: str) -> None:
    assert differences(side(("user", a)), side(("user", b))) == []


def test_under_a_model_embedder_changed_content_words_are_left_to_the_similarity() -> None:
    a, b = "How do I fix a broken zipper?", "How do I repair a broken zipper?"
    assert differences(side(("user", a)), side(("user", b)))  # hash: another word
    model = "model:text-embedding-3-small"
    assert differences(side(("user", a), embedder=model), side(("user", b), embedder=model)) == []
    numbers = side(("user", PRODUCT[0]), embedder=model), side(("user", PRODUCT[1]), embedder=model)
    assert differences(*numbers)  # numbers, negations, names… are checked for every embedder
