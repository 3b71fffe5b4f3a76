"""The global cache, like ``litellm.cache``: ``enable_cache``/``disable_cache``/
``update_cache`` take effect at once, restore the previous state as context managers,
and stay private to the task that set them; ``cachekit.cached`` looks the cache up
at call time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anyio
import cachekit
import pluggy
import pytest
from cachekit import Cache, current_cache, disable_cache, enable_cache, update_cache
from cachekit._global import CacheScope
from cachekit.testing import FakeClock

from ._support import ChatCompletion, Provider, SpyBackend, chat_model_response, plugin_manager

pytestmark = pytest.mark.anyio

REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

provider = Provider()


@cachekit.cached("completion")
def completion(**kwargs: Any) -> Any:
    return provider(**kwargs)


@cachekit.cached("acompletion")
async def acompletion(**kwargs: Any) -> Any:
    return provider(**kwargs)


@pytest.fixture(autouse=True)
def no_global_cache() -> Iterator[None]:
    """Every test starts and must end without a global cache."""
    provider.calls.clear()
    assert current_cache() is None
    yield
    assert current_cache() is None


@pytest.fixture
def pm() -> pluggy.PluginManager:
    return plugin_manager()


def leave(scope: CacheScope) -> None:
    scope.__exit__(None, None, None)


def test_without_a_cache_calls_pass_through() -> None:
    completion(**REQ, cache={"ttl": 5})
    completion(**REQ)
    assert provider.count == 2
    assert all("cache" not in call for call in provider.calls)


def test_enable_and_disable_take_effect_at_once(pm: pluggy.PluginManager) -> None:
    completion(**REQ)
    scope = enable_cache(plugins=pm)
    try:
        assert isinstance(scope.cache, Cache)
        assert current_cache() is scope.cache
        completion(**REQ)
        completion(**REQ)
        assert provider.count == 2  # one passthrough, then one miss and a hit

        off = disable_cache()
        assert current_cache() is None
        completion(**REQ)
        assert provider.count == 3
        leave(off)

        assert current_cache() is scope.cache
        completion(**REQ)
        assert provider.count == 3  # the earlier entry is still there
    finally:
        leave(scope)
    completion(**REQ)
    assert provider.count == 4


def test_enable_cache_takes_cache_keywords(pm: pluggy.PluginManager) -> None:
    with enable_cache(
        "spy", plugins=pm, ttl=12.5, namespace="team-a", supported_call_types=["completion"]
    ) as cache:
        assert cache is not None
        assert cache.type == "spy"
        assert isinstance(cache.backend, SpyBackend)
        completion(**REQ)
        assert cache.backend.ttls() == [12.5]
        (key,) = cache.backend.raw()
        assert key.startswith("cachekit:v2:team-a:")


def test_context_managers_restore_the_previous_state(pm: pluggy.PluginManager) -> None:
    with enable_cache(plugins=pm, namespace="outer") as outer:
        with enable_cache(plugins=pm, namespace="inner") as inner:
            assert current_cache() is inner
            with disable_cache() as none:
                assert none is None
                assert current_cache() is None
            assert current_cache() is inner
        assert current_cache() is outer
        with pytest.raises(RuntimeError, match="boom"), disable_cache():
            raise RuntimeError("boom")
        assert current_cache() is outer
    assert current_cache() is None


def test_update_cache_rebuilds_the_current_cache_with_changes(pm: pluggy.PluginManager) -> None:
    clock = FakeClock()
    with enable_cache("spy", plugins=pm, namespace="team", ttl=10, clock=clock) as before:
        with update_cache(ttl=20) as after:
            assert after is not None and before is not None
            assert current_cache() is after
            assert after is not before
            assert after.ttl == 20
            assert after.namespace == "team"
            assert after.type == "spy"
            assert after.plugins is pm
            completion(**REQ)
            assert isinstance(after.backend, SpyBackend)
            assert after.backend.ttls() == [20.0]
        assert current_cache() is before
        assert before.ttl == 10


def test_update_cache_without_a_cache_enables_one(pm: pluggy.PluginManager) -> None:
    with update_cache(plugins=pm, ttl=3) as cache:
        assert cache is not None
        assert cache.type == "local"
        assert cache.ttl == 3
        completion(**REQ)
        completion(**REQ)
        assert provider.count == 1


def test_global_decorator_with_response_type(pm: pluggy.PluginManager) -> None:
    calls = []

    @cachekit.cached("completion", response_type=ChatCompletion)
    def typed(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return chat_model_response(kwargs, len(calls))

    with enable_cache(plugins=pm):
        miss = typed(**REQ)
        hit = typed(**REQ)
    assert isinstance(hit, ChatCompletion)
    assert hit == miss
    assert len(calls) == 1


def test_sync_enable_is_seen_by_threads(pm: pluggy.PluginManager) -> None:
    seen: list[Cache | None] = []

    def look() -> None:
        seen.append(current_cache())

    with enable_cache(plugins=pm) as cache:
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    assert seen == [cache, None]


async def test_async_enable_and_the_async_context_manager(pm: pluggy.PluginManager) -> None:
    async with enable_cache(plugins=pm) as cache:
        assert current_cache() is cache
        await acompletion(**REQ)
        await acompletion(**REQ)
        assert provider.count == 1
        async with disable_cache():
            await acompletion(**REQ)
            assert provider.count == 2
    await acompletion(**REQ)
    assert provider.count == 3


async def test_concurrent_tasks_do_not_see_each_others_cache(pm: pluggy.PluginManager) -> None:
    entered = {"a": anyio.Event(), "b": anyio.Event()}
    both_inside = anyio.Event()
    mine: dict[str, Cache | None] = {}
    seen: dict[str, Cache | None] = {}

    async def worker(name: str) -> None:
        with enable_cache(plugins=pm, namespace=f"ns-{name}") as cache:
            mine[name] = cache
            entered[name].set()
            await both_inside.wait()  # the other task has entered its own scope by now
            seen[name] = current_cache()
            await acompletion(**REQ)

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, "a")
        await entered["a"].wait()
        tg.start_soon(worker, "b")
        await entered["b"].wait()
        assert current_cache() is None  # the parent has none
        both_inside.set()

    assert seen == mine
    assert mine["a"] is not mine["b"]
    assert provider.count == 2  # separate caches: each task missed in its own
    for name in ("a", "b"):
        cache = mine[name]
        assert cache is not None
        assert await cache.async_get_cache(**REQ) is not None


async def test_async_enable_does_not_leak_to_other_threads(pm: pluggy.PluginManager) -> None:
    seen: list[Cache | None] = []

    def look() -> None:
        seen.append(current_cache())

    with enable_cache(plugins=pm):
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    assert seen == [None]
