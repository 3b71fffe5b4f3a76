"""Failures are never silent, and a caller can tell a hit (issue 11, items 2, 3, 6).

A request that cannot be keyed makes ``get_cache_key`` raise ``ValueError`` naming the
parameter; through a wrapper the call runs uncached. The first failure of each kind
logs one WARNING on the ``cachekit`` logger; repeats are counted in ``stats().errors``
but not logged again. ``cachekit.cache_info`` says hit or miss, key, age, similarity.
"""

from __future__ import annotations

import logging

import cachekit
import openai
import pytest
from cachekit import Cache
from cachekit.testing import FakeClock, OpenAIServer
from cachekit_redis.testing import RedisServer
from openai.types.chat import ChatCompletion

from ._sdk import CHAT, MakeCache

pytestmark = pytest.mark.anyio


class Opaque:
    """A value no cache can key (no JSON form, no model_dump)."""


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cachekit" and r.levelno == logging.WARNING]


def test_get_cache_key_names_the_parameter_it_cannot_key(cache: Cache) -> None:
    with pytest.raises(ValueError, match="'foo'"):
        cache.get_cache_key(**CHAT, foo=object())
    with pytest.raises(ValueError, match="extra_query"):
        cache.get_cache_key(**CHAT, extra_query={"trace": Opaque()})


async def test_a_call_that_cannot_be_keyed_runs_uncached_with_one_warning(
    cache: Cache,
    aclient: openai.AsyncOpenAI,
    openai_server: OpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    results = [await create(**CHAT, extra_query={"trace": Opaque()}) for _ in range(3)]
    assert openai_server.count("/chat/completions") == 3  # every call reached the provider
    assert all(type(r) is ChatCompletion for r in results)
    assert len({r.id for r in results}) == 3
    (warning,) = warnings_of(caplog)
    assert "extra_query" in warning.getMessage()
    assert cache.stats().errors == 3


def test_a_sync_call_that_cannot_be_keyed_runs_uncached_with_one_warning(
    cache: Cache,
    client: openai.OpenAI,
    openai_server: OpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    create = cache.cached("completion")(client.chat.completions.create)
    results = [create(**CHAT, extra_query={"trace": Opaque()}) for _ in range(2)]
    assert openai_server.count("/chat/completions") == 2
    assert all(type(r) is ChatCompletion for r in results)
    assert len(warnings_of(caplog)) == 1
    assert cache.stats().errors == 2


async def test_a_result_that_cannot_be_stored_is_returned_with_one_warning(
    cache: Cache,
    aclient: openai.AsyncOpenAI,
    openai_server: OpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    # the SDK's raw-response objects hold an HTTP response: not a value to store
    create = cache.cached("acompletion")(aclient.chat.completions.with_raw_response.create)
    raws = [await create(**CHAT) for _ in range(2)]
    assert openai_server.count("/chat/completions") == 2
    assert all(type(raw.parse()) is ChatCompletion for raw in raws)
    assert len(warnings_of(caplog)) == 1
    assert cache.stats().errors == 2


async def test_each_kind_of_failure_warns_once(
    cache: Cache,
    aclient: openai.AsyncOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    raw_create = cache.cached("acompletion")(aclient.chat.completions.with_raw_response.create)
    for _ in range(2):
        await create(**CHAT, extra_query={"trace": Opaque()})
        await raw_create(**CHAT, temperature=0)
    assert len(warnings_of(caplog)) == 2
    assert cache.stats().errors == 4


def test_a_backend_outage_warns_once_and_counts_every_failure(
    client: openai.OpenAI, openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cachekit")
    with RedisServer() as redis_server:
        cache = Cache(type="redis", host=redis_server.host, port=redis_server.port)
        try:
            create = cache.cached("completion")(client.chat.completions.create)
            create(**CHAT)
            assert warnings_of(caplog) == []
            redis_server.kill()
            results = [create(**CHAT, temperature=t) for t in (0, 1, 2)]
            assert all(type(r) is ChatCompletion for r in results)
            assert openai_server.count("/chat/completions") == 4
            assert len(warnings_of(caplog)) == 1
            assert cache.stats().errors >= 3
        finally:
            cache.close()


async def test_cache_info_tells_a_miss_from_a_hit_with_its_key_and_age(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI
) -> None:
    clock = FakeClock()
    cache = make_cache(clock=clock)
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    miss = await create(**CHAT)
    clock.advance(30)
    hit = await create(**CHAT)
    missed, found = cachekit.cache_info(miss), cachekit.cache_info(hit)
    assert isinstance(missed, cachekit.CacheInfo) and isinstance(found, cachekit.CacheInfo)
    assert (missed.hit, missed.age_s, missed.similarity) == (False, None, None)
    assert found.hit is True and found.age_s == pytest.approx(30) and found.similarity is None
    assert missed.key == found.key == cache.get_cache_key(**CHAT)
    assert missed.namespace == found.namespace == cache.namespace
    assert cache.stats().errors == 0


async def test_cache_info_describes_streams_and_nothing_else(
    cache: Cache, aclient: openai.AsyncOpenAI
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    miss = await create(**CHAT, stream=True)
    _ = [chunk async for chunk in miss]
    hit = await create(**CHAT, stream=True)
    _ = [chunk async for chunk in hit]
    missed, found = cachekit.cache_info(miss), cachekit.cache_info(hit)
    assert missed is not None and missed.hit is False
    assert found is not None and found.hit is True and found.key == missed.key
    assert cachekit.cache_info(object()) is None
    assert cachekit.cache_info(await aclient.chat.completions.create(**CHAT)) is None
