"""``enable_cache``/``disable_cache``/``update_cache`` as LiteLLM's caching doc uses
them, and as context managers (sync and async) that restore ``litellm.cache`` and
LiteLLM's ``"cache"`` callback entries."""

from __future__ import annotations

from pathlib import Path

import cachekit_litellm
import litellm
import pytest
from cachekit_redis.testing import RedisServer

from ._support import CHAT, Calls, hit

pytestmark = pytest.mark.anyio

JOKE = "There are two hard things in computer science."
LISTS = ("input_callback", "success_callback", "_async_success_callback")


def registered() -> list[bool]:
    return ["cache" in getattr(litellm, name) for name in LISTS]


def test_enable_cache_then_disable_cache(calls: Calls) -> None:
    cachekit_litellm.enable_cache()
    assert isinstance(litellm.cache, cachekit_litellm.Cache)
    assert litellm.cache.type == "local" and registered() == [True, True, True]
    litellm.completion(**CHAT, mock_response=JOKE)
    assert hit(litellm.completion(**CHAT, mock_response=JOKE))
    cachekit_litellm.disable_cache()
    assert litellm.cache is None and registered() == [False, False, False]
    assert not hit(litellm.completion(**CHAT, mock_response=JOKE))
    assert calls.calls == 2


def test_enable_cache_takes_litellms_parameters(redis_server: RedisServer) -> None:
    cachekit_litellm.enable_cache(
        type="redis",
        host=redis_server.host,
        port=str(redis_server.port),  # LiteLLM's doc passes os.environ values
        supported_call_types=["completion"],
        namespace="scopes",
    )
    cache = litellm.cache
    assert isinstance(cache, cachekit_litellm.Cache)
    assert (cache.type, cache.supported_call_types) == ("redis", ["completion"])
    litellm.completion(**CHAT, mock_response=JOKE)
    assert hit(litellm.completion(**CHAT, mock_response=JOKE))
    assert cache.stats().errors == 0
    cache.clear()
    cache.close()


def test_enable_cache_keeps_an_existing_cache_and_update_cache_replaces_it() -> None:
    existing = cachekit_litellm.Cache()
    litellm.cache = existing  # type: ignore[assignment]
    cachekit_litellm.enable_cache(type="local", ttl=5)
    assert litellm.cache is existing  # as LiteLLM's enable_cache does
    cachekit_litellm.update_cache(type="local", ttl=5)
    assert isinstance(litellm.cache, cachekit_litellm.Cache) and litellm.cache is not existing
    assert litellm.cache.ttl == 5


def test_the_scopes_restore_what_they_changed(tmp_path: Path, calls: Calls) -> None:
    outer = cachekit_litellm.Cache()
    litellm.cache = outer  # type: ignore[assignment]
    assert registered() == [True, True, True]  # Cache() registers them, as LiteLLM's does
    with cachekit_litellm.disable_cache() as inside:
        assert inside is None and litellm.cache is None
        assert registered() == [False, False, False]
    assert litellm.cache is outer and registered() == [True, True, True]

    with cachekit_litellm.update_cache(type="disk", disk_cache_dir=str(tmp_path)) as disk:
        assert litellm.cache is disk and disk.type == "disk"
        litellm.completion(**CHAT, mock_response=JOKE)
        assert hit(litellm.completion(**CHAT, mock_response=JOKE))
    assert litellm.cache is outer

    litellm.cache = None
    for name in LISTS:
        getattr(litellm, name).remove("cache")
    with cachekit_litellm.enable_cache() as enabled:
        assert isinstance(enabled, cachekit_litellm.Cache) and registered() == [True] * 3
    assert litellm.cache is None and registered() == [False, False, False]
    assert calls.calls == 1


async def test_the_scopes_are_async_context_managers_too(calls: Calls) -> None:
    async with cachekit_litellm.enable_cache() as cache:
        await litellm.acompletion(**CHAT, mock_response=JOKE)
        await cachekit_litellm.wait_for_writes()
        assert hit(await litellm.acompletion(**CHAT, mock_response=JOKE))
        async with cachekit_litellm.disable_cache():
            assert not hit(await litellm.acompletion(**CHAT, mock_response=JOKE))
        assert litellm.cache is cache
    assert litellm.cache is None and registered() == [False, False, False]
    assert calls.calls == 2


def test_a_scope_that_fails_to_build_changes_nothing() -> None:
    with pytest.raises(ValueError, match="no_such_option"):
        cachekit_litellm.update_cache(type="local", no_such_option=1)
    with pytest.raises(ValueError, match="no_such_option"):
        cachekit_litellm.enable_cache(type="local", no_such_option=1)
    assert litellm.cache is None and registered() == [False, False, False]
