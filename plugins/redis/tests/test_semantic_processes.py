"""Two Python processes sharing one redis-server see each other's semantic entries.

The second process is a real interpreter started with ``sys.executable``; it finds
``redis-semantic`` through the installed entry point like any application would.
Each side has mirrored the partition before the other one writes, so what is
tested is the incremental catch-up, not only a first load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cachekit import Cache
from cachekit_redis.testing import RedisServer

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from cachekit import Cache

    async def main(url, namespace, script):
        cache = Cache(type="redis-semantic", url=url, namespace=namespace)
        out = []
        try:
            for op, text, value in json.loads(script):
                kwargs = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
                if op == "add":
                    await cache.async_add_cache(value, **kwargs)
                    out.append(None)
                else:
                    out.append(await cache.async_get_cache(**kwargs))
        finally:
            await cache.aclose()
        print(json.dumps(out))

    asyncio.run(main(*sys.argv[1:]))
    """
)


def run_child(url: str, namespace: str, *steps: tuple[str, str, Any]) -> list[Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, namespace, json.dumps(steps)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def request(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}]}


@pytest.fixture
async def cache(redis_server: RedisServer) -> AsyncIterator[Cache]:
    instance = Cache(
        type="redis-semantic", url=redis_server.url, namespace=f"p{uuid.uuid4().hex[:10]}"
    )
    yield instance
    await instance.aclear()
    await instance.aclose()


async def test_another_process_sees_this_process_entries(
    cache: Cache, redis_server: RedisServer
) -> None:
    await cache.async_add_cache({"answer": "Paris"}, **request("What is the capital of France?"))
    got = run_child(
        redis_server.url,
        cache.namespace,
        ("get", "what is the capital of france", None),
        ("get", "How do I bake sourdough bread?", None),
    )
    assert got == [{"answer": "Paris"}, None]


async def test_this_process_sees_another_process_entries(
    cache: Cache, redis_server: RedisServer
) -> None:
    # Mirror the partition here first, so the hit below needs the incremental catch-up.
    assert await cache.async_get_cache(**request("what is the capital of italy")) is None
    child = run_child(
        redis_server.url,
        cache.namespace,
        ("add", "What is the capital of Italy?", {"answer": "Rome"}),
        ("get", "what is the capital of italy", None),
    )
    assert child == [None, {"answer": "Rome"}]
    assert await cache.async_get_cache(**request("what is the capital of italy")) == {
        "answer": "Rome"
    }
    # And a later write from yet another process is seen by this process's mirror.
    run_child(
        redis_server.url,
        cache.namespace,
        ("add", "What is the capital of Spain?", {"answer": "Madrid"}),
    )
    assert await cache.async_get_cache(**request("what is the capital of spain")) == {
        "answer": "Madrid"
    }
