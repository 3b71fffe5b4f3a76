"""Concurrent identical calls make one request (single-flight), async and threaded;
a backend that fails mid-run never fails a call: requests are still answered, by the
provider, and every failure is counted."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from ._support import CHAT

pytestmark = pytest.mark.anyio

CALLERS = 20


async def test_twenty_concurrent_async_calls_make_one_request(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    results: list[Any] = []

    async def ask() -> None:
        results.append(await wrapped.chat.completions.create(**CHAT))

    async with anyio.create_task_group() as group:
        for _ in range(CALLERS):
            group.start_soon(ask)
    assert openai_server.count("/chat/completions") == 1
    assert len(results) == CALLERS and len({r.id for r in results}) == 1
    assert all(type(r) is ChatCompletion for r in results)
    assert cache.stats().errors == 0


def test_twenty_concurrent_threads_make_one_request(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    start = threading.Barrier(CALLERS)
    results: list[Any] = []
    failures: list[BaseException] = []

    def ask() -> None:
        start.wait()
        try:
            results.append(wrapped.chat.completions.create(**CHAT))
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert openai_server.count("/chat/completions") == 1
    assert len(results) == CALLERS and len({r.id for r in results}) == 1
    assert cache.stats().errors == 0


# -- outages ---------------------------------------------------------------------------
async def test_a_redis_killed_mid_run_leaves_every_call_answered(
    aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    testing = pytest.importorskip("cachekit_redis.testing")
    with testing.RedisServer() as redis_server:
        cache = Cache(type="redis", host=redis_server.host, port=redis_server.port)
        try:
            wrapped = wrap(aclient, cache)
            stored = await wrapped.chat.completions.create(**CHAT)
            assert type(await wrapped.chat.completions.create(**CHAT)) is ChatCompletion
            assert openai_server.count() == 1 and cache.stats().errors == 0
            redis_server.kill()
            answered = await wrapped.chat.completions.create(**CHAT)  # no cache: the provider
            assert type(answered) is ChatCompletion and answered.id != stored.id
            chunks = [c async for c in await wrapped.chat.completions.create(**CHAT, stream=True)]
            assert chunks and chunks[-1].choices[0].finish_reason == "stop"
            vectors = await wrapped.embeddings.create(model="e", input=["a", "b"])
            assert type(vectors) is CreateEmbeddingResponse and len(vectors.data) == 2
            responded = await wrapped.responses.create(model="m", input="hi")
            assert responded.output_text
            assert openai_server.count() == 5
            assert cache.stats().errors >= 4
        finally:
            await cache.aclose()


def test_a_redis_killed_mid_run_leaves_sync_calls_answered(
    client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    testing = pytest.importorskip("cachekit_redis.testing")
    with testing.RedisServer() as redis_server:
        cache = Cache(type="redis", host=redis_server.host, port=redis_server.port)
        try:
            wrapped = wrap(client, cache)
            wrapped.chat.completions.create(**CHAT)
            redis_server.kill()
            results = [wrapped.chat.completions.create(**CHAT, temperature=t) for t in (0, 1)]
            assert all(type(r) is ChatCompletion for r in results)
            assert len(list(wrapped.chat.completions.create(**CHAT, stream=True))) > 1
            assert openai_server.count("/chat/completions") == 4
            assert cache.stats().errors >= 3
        finally:
            cache.close()


async def test_a_disk_cache_directory_gone_mid_run_leaves_every_call_answered(
    aclient: openai.AsyncOpenAI, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    pytest.importorskip("cachekit_disk")
    directory = tmp_path / "cache"
    async with Cache(type="disk", disk_cache_dir=str(directory)) as cache:
        wrapped = wrap(aclient, cache)
        await wrapped.chat.completions.create(**CHAT)
        shutil.rmtree(directory)
        directory.write_text("a file where the cache directory was")
        answered = await wrapped.chat.completions.create(**CHAT)
        chunks = [c async for c in await wrapped.chat.completions.create(**CHAT, stream=True)]
        assert type(answered) is ChatCompletion and chunks
        assert openai_server.count("/chat/completions") == 3
        assert cache.stats().errors >= 2
