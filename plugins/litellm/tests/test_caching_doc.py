"""LiteLLM's caching doc, example by example, with ``from cachekit_litellm import Cache``
and LiteLLM itself doing the caching, on every backend: ``local``, ``redis`` (a real
server), ``disk``, ``s3`` (moto's server) and ``redis-semantic``.

Every happy path ends with ``cache.stats().errors == 0``: the entries really went
through cachekit, and nothing failed open on the way.
"""

from __future__ import annotations

from typing import Any

import cachekit_litellm
import litellm
import pytest
from cachekit.testing import FakeClock

from ._support import CHAT, Calls, MakeCache, eventually, eventually_sync, flush_litellm, hit

pytestmark = pytest.mark.anyio

JOKE = "Why did the cache miss? It was never asked twice."


def test_completion_twice_the_second_is_a_hit(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    response1 = litellm.completion(**CHAT, mock_response=JOKE)
    response2 = litellm.completion(**CHAT, mock_response=JOKE)
    assert calls.calls == 1
    assert type(response2) is litellm.ModelResponse
    assert hit(response2) and not hit(response1)
    assert response2.id == response1.id
    assert response2.choices[0].message.content == JOKE
    assert response2._hidden_params["cache_key"] == cache.get_cache_key(**CHAT, mock_response=JOKE)
    assert (cache.stats().hits, cache.stats().misses, cache.stats().errors) == (1, 1, 0)


async def test_acompletion_twice_the_second_is_a_hit(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    response1 = await litellm.acompletion(**CHAT, mock_response=JOKE)
    await cachekit_litellm.wait_for_writes()  # LiteLLM stores in a background task
    response2 = await litellm.acompletion(**CHAT, mock_response=JOKE)
    assert calls.calls == 1
    assert hit(response2) and response2.id == response1.id
    assert response2.choices[0].message.content == JOKE
    assert (cache.stats().hits, cache.stats().errors) == (1, 0)


async def test_sync_and_async_calls_share_entries(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    stored = litellm.completion(**CHAT, mock_response=JOKE)
    answered = await litellm.acompletion(**CHAT, mock_response=JOKE)
    assert calls.calls == 1 and hit(answered) and answered.id == stored.id
    assert cache.stats().errors == 0


def test_a_different_request_is_not_a_hit(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    litellm.completion(**CHAT, mock_response=JOKE)
    other = litellm.completion(**CHAT, mock_response=JOKE, temperature=0.2)
    other_model = litellm.completion(**{**CHAT, "model": "gpt-4o"}, mock_response=JOKE)
    assert calls.calls == 3 and not hit(other) and not hit(other_model)
    assert cache.stats().errors == 0


# -- the per-call controls ---------------------------------------------------------------


def test_no_cache_calls_the_provider_and_stores_the_fresh_answer(
    make_cache: MakeCache, calls: Calls
) -> None:
    litellm.cache = cache = make_cache()
    old = litellm.completion(**CHAT, mock_response=JOKE)
    fresh = litellm.completion(**CHAT, mock_response=JOKE, cache={"no-cache": True})
    after = litellm.completion(**CHAT, mock_response=JOKE)
    assert calls.calls == 2 and not hit(fresh) and fresh.id != old.id
    assert hit(after) and after.id == fresh.id
    assert cache.stats().errors == 0


def test_no_store_reads_but_does_not_write(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    first = litellm.completion(**CHAT, mock_response=JOKE, cache={"no-store": True})
    second = litellm.completion(**CHAT, mock_response=JOKE)
    third = litellm.completion(**CHAT, mock_response=JOKE, cache={"no-store": True})
    assert calls.calls == 2 and not hit(first) and not hit(second) and hit(third)
    assert cache.stats().errors == 0


async def test_ttl_is_the_lifetime_of_this_answer(
    make_cache: MakeCache, calls: Calls, clock: FakeClock
) -> None:
    litellm.cache = cache = make_cache(ttl=3600)
    await litellm.acompletion(**CHAT, mock_response=JOKE, cache={"ttl": 10})
    await cachekit_litellm.wait_for_writes()
    clock.advance(9.5)
    assert hit(await litellm.acompletion(**CHAT, mock_response=JOKE))
    clock.advance(1)
    assert not hit(await litellm.acompletion(**CHAT, mock_response=JOKE))
    assert calls.calls == 2 and cache.stats().errors == 0


def test_s_maxage_accepts_only_answers_that_young(
    make_cache: MakeCache, calls: Calls, clock: FakeClock
) -> None:
    litellm.cache = cache = make_cache()
    litellm.completion(**CHAT, mock_response=JOKE)
    clock.advance(30)
    assert hit(litellm.completion(**CHAT, mock_response=JOKE, cache={"s-maxage": 60}))
    older = litellm.completion(**CHAT, mock_response=JOKE, cache={"s-maxage": 10})
    # LiteLLM's spelling "s-max-age" is the same control.
    again = litellm.completion(**CHAT, mock_response=JOKE, cache={"s-max-age": 10})
    assert not hit(older) and hit(again)  # the refused entry was refreshed
    assert calls.calls == 2 and cache.stats().errors == 0


def test_ttl_precedence_is_cachekits(make_cache: MakeCache, clock: FakeClock) -> None:
    """Per-call ttl, then Cache(ttl=), then the backend's default."""
    litellm.cache = cache = make_cache(ttl=100)
    litellm.completion(**CHAT, mock_response=JOKE)  # Cache(ttl=100)
    litellm.completion(**CHAT, mock_response=JOKE, temperature=0, cache={"ttl": 5})
    clock.advance(6)
    assert hit(litellm.completion(**CHAT, mock_response=JOKE))
    assert not hit(litellm.completion(**CHAT, mock_response=JOKE, temperature=0))
    assert cache.stats().errors == 0


def test_a_per_call_namespace_keeps_its_own_entries(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    team_a, team_b = f"{cache.namespace}-a", f"{cache.namespace}-b"  # unique to this test
    in_a = litellm.completion(**CHAT, mock_response=JOKE, cache={"namespace": team_a})
    in_b = litellm.completion(**CHAT, mock_response=JOKE, cache={"namespace": team_b})
    in_a_again = litellm.completion(**CHAT, mock_response=JOKE, cache={"namespace": team_a})
    default = litellm.completion(**CHAT, mock_response=JOKE)
    assert calls.calls == 3
    assert not hit(in_a) and not hit(in_b) and hit(in_a_again) and not hit(default)
    assert in_a_again._hidden_params["cache_key"].startswith(f"cachekit:v2:{team_a}:")
    assert cache.stats().errors == 0


def test_caching_false_bypasses_the_cache(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    litellm.completion(**CHAT, mock_response=JOKE)
    bypassed = litellm.completion(**CHAT, mock_response=JOKE, caching=False)
    cached = litellm.completion(**CHAT, mock_response=JOKE, caching=True)
    assert calls.calls == 2 and not hit(bypassed) and hit(cached)
    assert cache.stats().errors == 0


def test_default_off_caches_only_calls_that_opt_in(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache(mode="default_off")
    litellm.completion(**CHAT, mock_response=JOKE)
    assert not hit(litellm.completion(**CHAT, mock_response=JOKE))
    litellm.completion(**CHAT, mock_response=JOKE, cache={"use-cache": True})
    assert hit(litellm.completion(**CHAT, mock_response=JOKE, cache={"use-cache": True}))
    assert calls.calls == 3 and cache.stats().errors == 0


def test_an_invalid_control_is_a_value_error_before_the_provider(
    make_cache: MakeCache, calls: Calls
) -> None:
    litellm.cache = make_cache()
    with pytest.raises(ValueError, match="no-cache"):
        litellm.completion(**CHAT, mock_response=JOKE, cache={"no-cache": "yes"})
    with pytest.raises(ValueError, match="unknown cache control"):
        litellm.completion(**CHAT, mock_response=JOKE, cache={"max-age": 5})
    assert calls.calls == 0


# -- custom keys and custom add/get functions ----------------------------------------------


def custom_get_cache_key(*args: Any, **kwargs: Any) -> str:
    """LiteLLM's doc example: the key from the model, messages, temperature and logit_bias."""
    key = (
        kwargs.get("model", "")
        + str(kwargs.get("messages", ""))
        + str(kwargs.get("temperature", ""))
        + str(kwargs.get("logit_bias", ""))
    )
    return key


async def test_an_assigned_get_cache_key_is_the_key(make_cache: MakeCache, calls: Calls) -> None:
    cache = make_cache()
    cache.get_cache_key = custom_get_cache_key  # type: ignore[method-assign]
    litellm.cache = cache
    first = litellm.completion(**CHAT, mock_response=JOKE)
    second = await litellm.acompletion(**CHAT, mock_response="never asked for")
    # mock_response (an answer-changing parameter cachekit's own keys include) is not in
    # this custom key, so the second call is a hit.
    assert calls.calls == 1 and not hit(first) and hit(second)
    key = custom_get_cache_key(**CHAT)
    assert second._hidden_params["cache_key"] == key
    assert cache.get(key)["id"] == first.id  # stored under it, in the cache's namespace
    assert cache.stats().errors == 0


async def test_assigned_add_cache_and_get_cache_are_used_on_every_path(
    make_cache: MakeCache, calls: Calls
) -> None:
    cache = make_cache()
    store: dict[str, Any] = {}

    def add_cache(result: Any, *args: Any, **kwargs: Any) -> None:
        store[str(kwargs["messages"])] = result

    def get_cache(*args: Any, **kwargs: Any) -> Any:
        return store.get(str(kwargs["messages"]))

    cache.add_cache = add_cache  # type: ignore[method-assign]
    cache.get_cache = get_cache  # type: ignore[method-assign]
    litellm.cache = cache
    litellm.completion(**CHAT, mock_response=JOKE)  # LiteLLM's sync path calls them itself
    assert hit(await litellm.acompletion(**CHAT, mock_response=JOKE))  # cachekit calls get_cache
    messages = [{"role": "user", "content": "Another one"}]
    await litellm.acompletion(model="gpt-4o-mini", messages=messages, mock_response=JOKE)
    await cachekit_litellm.wait_for_writes()
    assert str(messages) in store  # cachekit called add_cache
    assert hit(litellm.completion(model="gpt-4o-mini", messages=messages, mock_response=JOKE))
    assert calls.calls == 2
    assert cache.stats().stores == 0  # nothing went to cachekit's storage


def test_custom_key_value_pairs(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.add_cache(cache_key="test-key", result="1234")
    assert cache.get_cache(cache_key="test-key") == "1234"
    assert cache.get_cache(cache_key="another-key") is None
    assert cache.stats().errors == 0


# -- which calls are cached ----------------------------------------------------------------


async def test_supported_call_types_limits_what_is_cached(
    make_cache: MakeCache, calls: Calls
) -> None:
    litellm.cache = cache = make_cache(supported_call_types=["acompletion"])
    litellm.completion(**CHAT, mock_response=JOKE)
    assert not hit(litellm.completion(**CHAT, mock_response=JOKE))
    await litellm.acompletion(**CHAT, mock_response=JOKE)
    await cachekit_litellm.wait_for_writes()
    assert hit(await litellm.acompletion(**CHAT, mock_response=JOKE))
    assert calls.calls == 3
    assert cache.supported_call_types == ["acompletion"]
    assert cache.stats().errors == 0


# -- LiteLLM's callbacks see the hit --------------------------------------------------------


async def test_a_custom_logger_sees_cache_hit_on_async_calls(
    make_cache: MakeCache, calls: Calls
) -> None:
    litellm.cache = cache = make_cache()
    response1 = await litellm.acompletion(**CHAT, mock_response=JOKE, caching=True)
    await flush_litellm()
    response2 = await litellm.acompletion(**CHAT, mock_response=JOKE, caching=True)
    await eventually(lambda: len(calls.async_hits) == 2, "two async success events")
    assert calls.async_hits[1] is True and calls.async_hits[0] is not True
    assert hit(response2) and response2.id == response1.id
    assert cache.stats().errors == 0


def test_a_custom_logger_sees_cache_hit_on_sync_calls(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    litellm.completion(**CHAT, mock_response=JOKE)
    eventually_sync(lambda: len(calls.sync_hits) == 1, "the miss's success event")
    litellm.completion(**CHAT, mock_response=JOKE)
    eventually_sync(lambda: len(calls.sync_hits) == 2, "the hit's success event")
    assert calls.sync_hits[0] is not True and calls.sync_hits[1] is True
    assert cache.stats().errors == 0


# -- streams --------------------------------------------------------------------------------


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks)


def test_a_completion_stream_is_replayed(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    first = list(litellm.completion(**CHAT, mock_response=JOKE, stream=True))
    replay = litellm.completion(**CHAT, mock_response=JOKE, stream=True)
    chunks = list(replay)
    assert calls.calls == 1
    assert isinstance(replay, litellm.CustomStreamWrapper) and hit(replay)
    assert _text(chunks) == _text(first) == JOKE
    assert chunks[-1].choices[0].finish_reason == "stop"
    # a stream and a whole response never share an entry
    assert not hit(litellm.completion(**CHAT, mock_response=JOKE))
    assert cache.stats().errors == 0


async def test_an_acompletion_stream_is_replayed(make_cache: MakeCache, calls: Calls) -> None:
    litellm.cache = cache = make_cache()
    first = [c async for c in await litellm.acompletion(**CHAT, mock_response=JOKE, stream=True)]
    await cachekit_litellm.wait_for_writes()  # LiteLLM stores a finished stream in a task
    replay = await litellm.acompletion(**CHAT, mock_response=JOKE, stream=True)
    chunks = [c async for c in replay]
    assert calls.calls == 1
    assert isinstance(replay, litellm.CustomStreamWrapper) and hit(replay)
    assert _text(chunks) == _text(first) == JOKE
    await eventually(lambda: True in calls.async_hits, "the replay's success event")
    assert cache.stats().errors == 0
