"""Wrapped hits on an in-process backend are answered without awaiting the read path
(:mod:`cachekit._llm._hits`): the same answer, counted the same, and the read path
still decides everything else (misses, stale entries, observers, overrides)."""

from __future__ import annotations

from typing import Any

import pytest
from cachekit import Cache, cache_info
from cachekit._llm import _info
from cachekit.testing import FakeClock

from ._support import ChatCompletion, Provider, Recorder, chat_model_response, plugin_manager

pytestmark = pytest.mark.anyio

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def req(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, **extra}


@pytest.fixture
def cache(clock: FakeClock) -> Cache:
    """A local cache with no observer (the case the synchronous hit serves)."""
    return Cache(type="local", plugins=plugin_manager(), clock=clock)


class ReadPath:
    """Counts the engine's (async) read path, wrapping the real one."""

    def __init__(self, cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        engine = cache._engine
        real = engine.read

        async def read(*args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(engine, "read", read)


async def test_async_hit_skips_the_read_path_and_is_counted(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    first = await acompletion(**req())
    path = ReadPath(cache, monkeypatch)

    second = await acompletion(**req())
    third = await acompletion(**req())

    assert second == third == first
    assert provider.count == 1
    assert path.reads == 0
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (2, 1)
    assert stats.tokens_saved == 10  # the entry's usage, once per hit
    assert stats.latency["get"]["count"] == 3


def test_sync_hit_skips_the_read_path(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider()
    completion = cache.cached("completion")(provider)
    first = completion(**req())
    path = ReadPath(cache, monkeypatch)

    assert completion(**req()) == first
    assert provider.count == 1
    assert path.reads == 0
    assert cache.stats().hits == 1


async def test_hits_are_independent_objects(cache: Cache) -> None:
    acompletion = cache.cached("acompletion")(Provider().acall)
    await acompletion(**req())

    one = await acompletion(**req())
    one["choices"][0]["message"]["content"] = "tampered"
    one["choices"].append("extra")
    two = await acompletion(**req())

    assert two is not one
    assert two["choices"][0]["message"]["content"] == "answer 1"
    assert len(two["choices"]) == 1


async def test_typed_hits_are_fresh_models(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider(chat_model_response)
    acompletion = cache.cached("acompletion", response_type=ChatCompletion)(provider.acall)
    first = await acompletion(**req())
    path = ReadPath(cache, monkeypatch)

    one = await acompletion(**req())
    one.choices[0].message.content = "tampered"
    two = await acompletion(**req())

    assert type(one) is type(two) is ChatCompletion
    assert two is not one and two.choices[0] is not one.choices[0]
    assert two == first
    assert path.reads == 0


async def test_a_store_replaces_what_hits_return(cache: Cache) -> None:
    acompletion = cache.cached("acompletion")(Provider().acall)
    await acompletion(**req())
    assert (await acompletion(**req()))["id"] == "chatcmpl-1"

    await cache.async_add_cache({"id": "replaced"}, **req())

    assert await acompletion(**req()) == {"id": "replaced"}


async def test_cache_info_of_a_local_hit(cache: Cache, clock: FakeClock) -> None:
    acompletion = cache.cached("acompletion")(Provider().acall)
    missed = await acompletion(**req())
    clock.advance(2.5)

    hit = await acompletion(**req())

    key = cache.get_cache_key(**req())
    assert cache_info(missed) == _info.CacheInfo(False, key, "default")
    assert cache_info(hit) == _info.CacheInfo(True, key, "default", age_s=2.5)


async def test_expired_entries_go_to_the_provider(cache: Cache, clock: FakeClock) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req(), cache={"ttl": 10})
    clock.advance(11)

    assert (await acompletion(**req()))["id"] == "chatcmpl-2"
    assert provider.count == 2


async def test_stale_entries_take_the_read_path_and_refresh(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache(type="local", plugins=plugin_manager(), clock=clock, stale_while_revalidate=60)
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req(), cache={"ttl": 10})
    clock.advance(11)
    path = ReadPath(cache, monkeypatch)

    stale = await acompletion(**req())
    await cache.await_refreshes()

    assert stale["id"] == "chatcmpl-1"  # served stale while one refresh runs
    assert path.reads == 1
    assert provider.count == 2
    assert cache.stats().stale_hits == 1


async def test_an_observer_sees_every_hit(clock: FakeClock) -> None:
    recorder = Recorder()
    cache = Cache(type="local", plugins=plugin_manager(recorder), clock=clock)
    acompletion = cache.cached("acompletion")(Provider().acall)
    await acompletion(**req())
    await acompletion(**req())
    await acompletion(**req())

    assert [e.key for e in recorder.of("hit")] == [cache.get_cache_key(**req())] * 2


async def test_overrides_still_decide(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())
    cache.get_cache = lambda **kwargs: {"id": "from the override"}  # type: ignore[method-assign]

    assert await acompletion(**req()) == {"id": "from the override"}

    del cache.get_cache
    cache.get_cache_key = lambda **kwargs: "custom"  # type: ignore[method-assign]
    assert (await acompletion(**req()))["id"] == "chatcmpl-2"  # a new key: a miss
    assert (await acompletion(**req()))["id"] == "chatcmpl-2"
    assert provider.count == 2


async def test_no_cache_control_calls_the_provider(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())

    assert (await acompletion(**req(), cache={"no-cache": True}))["id"] == "chatcmpl-2"


async def test_a_corrupt_entry_is_a_reported_miss(cache: Cache) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    await acompletion(**req())
    await cache.backend.set(cache.get_cache_key(**req()), b"not an entry", None)

    assert (await acompletion(**req()))["id"] == "chatcmpl-2"
    assert cache.stats().errors == 1


def test_cache_info_forgets_the_oldest_results() -> None:
    results = [{"n": n} for n in range(_info.REMEMBERED + 1)]
    for n, result in enumerate(results):
        _info.remember(result, _info.CacheInfo(True, f"k{n}", "default"))

    assert cache_info(results[0]) is None
    assert cache_info(results[1]) == _info.CacheInfo(True, "k1", "default")
    assert cache_info(results[-1]) == _info.CacheInfo(True, f"k{_info.REMEMBERED}", "default")
    assert cache_info({"n": 1}) is None  # equal is not the same object
