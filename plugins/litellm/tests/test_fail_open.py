"""A cache that fails never breaks a LiteLLM call: a redis-server killed mid-test turns
every call (sync, async, streamed, embeddings) into an uncached call, counted in
``stats().errors`` and logged; a request cachekit cannot key runs uncached too."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import cachekit_litellm
import litellm
import pytest
from cachekit_redis.testing import RedisServer

from ._support import CHAT, Calls, hit

pytestmark = pytest.mark.anyio

JOKE = "A cache walks into a bar. The bartender says: I remember you."


@pytest.fixture
async def killable_redis() -> AsyncIterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.mark.parametrize("kind", ["redis", "redis-semantic"])
async def test_a_killed_redis_never_breaks_a_call(
    killable_redis: RedisServer, calls: Calls, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = cachekit_litellm.Cache(
        type=kind,
        host=killable_redis.host,
        port=killable_redis.port,
        namespace=f"f{uuid.uuid4().hex[:12]}",
    )
    litellm.cache = cache
    try:
        await litellm.acompletion(**CHAT, mock_response=JOKE)
        await cachekit_litellm.wait_for_writes()
        assert hit(await litellm.acompletion(**CHAT, mock_response=JOKE))
        assert cache.stats().errors == 0

        killable_redis.kill()
        with caplog.at_level(logging.WARNING, logger="cachekit"):
            answered: list[Any] = [
                await litellm.acompletion(**CHAT, mock_response=JOKE),
                litellm.completion(**CHAT, mock_response=JOKE),
                await litellm.aembedding(
                    model="text-embedding-3-small", input=["a"], mock_response=[0.5]
                ),
                litellm.embedding(model="text-embedding-3-small", input="a", mock_response=[0.5]),
            ]
            streamed = [
                c async for c in await litellm.acompletion(**CHAT, mock_response=JOKE, stream=True)
            ]
            streamed_sync = list(litellm.completion(**CHAT, mock_response=JOKE, stream=True))
            await cachekit_litellm.wait_for_writes()
        assert not any(hit(r) for r in answered)
        assert answered[0].choices[0].message.content == JOKE
        assert answered[2].data[0]["embedding"] == [0.5]
        assert "".join(c.choices[0].delta.content or "" for c in streamed) == JOKE
        assert "".join(c.choices[0].delta.content or "" for c in streamed_sync) == JOKE
        assert cache.stats().errors > 0
        assert any(r.levelno == logging.WARNING for r in caplog.records)  # never silent
    finally:
        await cache.backend.aclose()


def test_a_request_cachekit_cannot_key_runs_uncached(
    calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    class Opaque:
        """A parameter value JSON cannot hold."""

    litellm.cache = cache = cachekit_litellm.Cache()
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        first = litellm.completion(**CHAT, mock_response=JOKE, style=Opaque())
        second = litellm.completion(**CHAT, mock_response=JOKE, style=Opaque())
    assert calls.calls == 2 and not hit(first) and not hit(second)
    assert cache.stats().errors > 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'style'" in warnings[0].getMessage()
    # Asked directly (not by LiteLLM), the key is a ValueError naming the parameter.
    with pytest.raises(ValueError, match="'style'"):
        cache.get_cache_key(**CHAT, style=Opaque())


async def test_an_unkeyable_embedding_item_runs_uncached(calls: Calls) -> None:
    class Opaque:
        pass

    litellm.cache = cache = cachekit_litellm.Cache()
    request: dict[str, Any] = {
        "model": "text-embedding-3-small",
        "input": ["a"],
        "mock_response": [0.5],
        "style": Opaque(),
    }
    first = await litellm.aembedding(**request)
    await cachekit_litellm.wait_for_writes()
    second = await litellm.aembedding(**request)
    third = litellm.embedding(**request)
    assert not hit(first) and not hit(second) and not hit(third)
    assert cache.stats().errors > 0 and cache.stats().stores == 0
