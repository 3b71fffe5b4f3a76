"""Building a ``cachekit_litellm.Cache`` from LiteLLM's keywords; the LiteLLM version
check; the interface bits LiteLLM reads (``.cache``, ``supports_async``,
``should_use_cache``, preset keys)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import cachekit
import cachekit_litellm
import litellm
import pytest
from cachekit.testing import FakeClock
from cachekit_litellm import _compat
from cachekit_redis.testing import RedisServer
from litellm.caching.base_cache import BaseCache
from litellm.caching.caching import CacheMode, S3Cache
from litellm.caching.caching_handler import LLMCachingHandler
from litellm.caching.redis_cache import RedisCache
from litellm.types.caching import DEFAULT_CACHING_SUPPORTED_CALL_TYPES, LiteLLMCacheType

from ._support import CHAT, Calls, hit

pytestmark = pytest.mark.anyio

JOKE = "Knock knock. Who's there? Cache. Cache who? Bless you."


def test_it_is_a_cachekit_cache_with_litellms_defaults() -> None:
    cache = cachekit_litellm.Cache()
    assert isinstance(cache, cachekit.Cache)
    assert cache.type == "local" and cache.mode == "default_on"
    assert cache.supported_call_types == list(DEFAULT_CACHING_SUPPORTED_CALL_TYPES)
    assert cache.supports_async() is True
    assert cache.max_messages is None
    cache.set("k", {"v": 1})  # the key-value API of the same object
    assert cache.get("k") == {"v": 1}


def test_litellms_enums_are_accepted() -> None:
    cache = cachekit_litellm.Cache(type=LiteLLMCacheType.LOCAL, mode=CacheMode.default_off)
    assert (cache.type, cache.mode) == ("local", "default_off")


def test_the_backend_slot_is_neither_litellms_redis_nor_its_s3() -> None:
    cache = cachekit_litellm.Cache()
    assert isinstance(cache.cache, BaseCache)
    assert not isinstance(cache.cache, RedisCache | S3Cache)  # no DualCache, per-item embeddings
    cache.cache.set_cache("raw", {"timestamp": 1.0, "response": "{}"}, ttl=60)
    assert cache.cache.get_cache("raw") == {"timestamp": 1.0, "response": "{}"}
    assert cache.get("raw") == {"timestamp": 1.0, "response": "{}"}  # the same storage
    cache.cache.delete_cache("raw")
    assert cache.cache.get_cache("raw") is None


async def test_the_backend_slot_fails_open(calls: Calls) -> None:
    with RedisServer() as server:
        cache = cachekit_litellm.Cache(type="redis", host=server.host, port=server.port)
        await cache.cache.async_set_cache("k", [1, 2])
        assert await cache.cache.async_get_cache("k") == [1, 2]
        assert (await cache.cache.test_connection())["status"] == "success"
        server.kill()
        assert await cache.cache.async_get_cache("k") is None
        await cache.cache.async_set_cache("k", [3])  # skipped, not raised
        assert (await cache.cache.test_connection())["status"] == "failed"
        assert cache.failures.count == 2
        await cache.backend.aclose()


def test_default_in_memory_ttl_is_the_local_backends_default_lifetime(
    clock: FakeClock, calls: Calls
) -> None:
    litellm.cache = cachekit_litellm.Cache(default_in_memory_ttl=10, clock=clock)
    litellm.completion(**CHAT, mock_response=JOKE)
    clock.advance(11)
    assert not hit(litellm.completion(**CHAT, mock_response=JOKE))
    assert calls.calls == 2


@pytest.fixture
async def redis_options(redis_server: RedisServer, anyio_backend: str) -> AsyncIterator[Any]:
    made: list[cachekit_litellm.Cache] = []
    yield {"host": redis_server.host, "port": redis_server.port, "made": made}
    for cache in made:
        await cache.aclose()


def test_default_in_redis_ttl_applies_to_redis_and_is_ignored_elsewhere(
    redis_options: dict[str, Any], clock: FakeClock, calls: Calls, tmp_path: Any
) -> None:
    where = {"host": redis_options["host"], "port": redis_options["port"]}
    cache = cachekit_litellm.Cache(
        "redis",
        **where,
        default_in_memory_ttl=1,  # LiteLLM ignores it for redis, and so does this class
        default_in_redis_ttl=10,
        clock=clock,
        namespace=f"r{uuid.uuid4().hex[:12]}",
    )
    redis_options["made"].append(cache)
    litellm.cache = cache
    litellm.completion(**CHAT, mock_response=JOKE)
    clock.advance(5)
    assert hit(litellm.completion(**CHAT, mock_response=JOKE))
    clock.advance(6)
    assert not hit(litellm.completion(**CHAT, mock_response=JOKE))
    disk = cachekit_litellm.Cache(
        type="disk", disk_cache_dir=str(tmp_path), default_in_redis_ttl=10
    )  # accepted, ignored
    assert disk.type == "disk"


def test_max_messages_skips_long_conversations(calls: Calls) -> None:
    litellm.cache = cachekit_litellm.Cache(max_messages=2)
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    for _ in range(2):
        reply = litellm.completion(model="gpt-4o-mini", messages=conversation, mock_response="x")
    assert not hit(reply) and calls.calls == 2
    litellm.completion(**CHAT, mock_response=JOKE)
    assert hit(litellm.completion(**CHAT, mock_response=JOKE))


def test_should_use_cache_follows_litellms_rule() -> None:
    on = cachekit_litellm.Cache(max_messages=1)
    off = cachekit_litellm.Cache(mode="default_off")
    assert on.should_use_cache(**CHAT) is True
    assert on.should_use_cache(model="gpt-4o-mini", messages=[{}, {}]) is False
    assert off.should_use_cache(**CHAT) is False
    assert off.should_use_cache(**CHAT, cache={"use-cache": True}) is True


def test_preset_keys_come_from_litellm_params() -> None:
    cache = cachekit_litellm.Cache()
    assert cache.get_preset_cache_key_from_kwargs(**CHAT) is None
    params = {"preset_cache_key": "cachekit:v2:default:completion:abc"}
    assert (
        cache.get_preset_cache_key_from_kwargs(litellm_params=params) == params["preset_cache_key"]
    )


def test_litellms_bookkeeping_is_not_in_the_key() -> None:
    cache = cachekit_litellm.Cache()
    plain = cache.get_cache_key(**CHAT)
    with_bookkeeping = cache.get_cache_key(
        **CHAT,
        litellm_call_id=str(uuid.uuid4()),
        litellm_trace_id=str(uuid.uuid4()),
        parent_otel_span=object(),
        dynamic_cache_object=object(),
        metadata={"user": "u1"},
        langfuse_secret_key="sk-lf",
        input_cost_per_token=1e-6,
        num_retries=3,
        _litellm_internal=True,
    )
    assert with_bookkeeping == plain
    # Parameters that can change the answer stay, LiteLLM's own included.
    for extra in (
        {"api_base": "http://other/v1"},
        {"custom_llm_provider": "azure"},
        {"mock_response": "x"},
        {"temperature": 0.3},
        {"some_new_provider_parameter": 1},
    ):
        assert cache.get_cache_key(**CHAT, **extra) != plain, extra


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("semantic_cache_scope", "end_user", "namespace"),
        ("redis_semantic_cache_index_name", "idx", "namespace="),
        ("gcs_bucket_name", "b", "no 'gcs' backend"),
        ("qdrant_semantic_cache_vector_size", 8, "embedder"),
        ("max_messages", -1, "max_messages"),
    ],
)
def test_litellm_options_without_a_cachekit_equivalent_say_what_to_do(
    option: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cachekit_litellm.Cache(**{option: value})


def test_litellms_harmless_defaults_are_accepted() -> None:
    cache = cachekit_litellm.Cache(semantic_cache_scope="key", gcs_bucket_name=None)
    assert cache.type == "local"


@pytest.mark.parametrize("kind", ["gcs", "azure-blob", "valkey-semantic"])
def test_litellm_only_types_are_refused_clearly(kind: str) -> None:
    with pytest.raises(ValueError, match=f"'{kind}'"):
        cachekit_litellm.Cache(type=kind)


def test_an_unknown_type_lists_the_installed_ones() -> None:
    with pytest.raises(cachekit.UnknownBackendError, match="redis"):
        cachekit_litellm.Cache(type="memcached")


# -- the LiteLLM version check ----------------------------------------------------------


@pytest.mark.parametrize("version", ["1.111.0", "1.109.9", "2.0.0", "unknown"])
def test_an_untested_litellm_release_is_refused_at_construction(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setattr(_compat, "installed_version", lambda: version)
    with pytest.raises(cachekit_litellm.UnsupportedLiteLLMError, match=re.escape(">=1.110,<1.111")):
        cachekit_litellm.Cache()
    with pytest.raises(cachekit_litellm.UnsupportedLiteLLMError):
        cachekit_litellm.enable_cache()
    assert litellm.cache is None


def test_a_litellm_without_a_method_relied_on_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "_verified", None)
    monkeypatch.delattr(LLMCachingHandler, "_retrieve_from_cache")
    with pytest.raises(
        cachekit_litellm.UnsupportedLiteLLMError, match=r"LLMCachingHandler\._retrieve_from_cache"
    ):
        cachekit_litellm.Cache()


def test_the_installed_litellm_is_a_tested_release() -> None:
    assert cachekit_litellm.TESTED_LITELLM == ">=1.110,<1.111"
    assert litellm.__name__ and _compat.installed_version().startswith("1.110.")
    _compat.check_litellm()  # no error
