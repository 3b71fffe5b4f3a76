"""``wrap(client)`` without a cache uses the global one (``cachekit.enable_cache``),
looked up at each call: none enabled, calls pass through uncached."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import cachekit
import openai
import pytest
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap

from ._support import CHAT, same

pytestmark = pytest.mark.anyio


def _options(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        return {"host": server.host, "port": server.port, "namespace": f"g{uuid.uuid4().hex[:16]}"}
    if backend == "disk":
        pytest.importorskip("cachekit_disk")
        return {"disk_cache_dir": str(tmp_path / "disk")}
    return {}


def test_the_global_cache_is_looked_up_at_each_call(
    client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client)  # before any cache is enabled
    with cachekit.disable_cache():
        wrapped.chat.completions.create(**CHAT)
        wrapped.chat.completions.create(**CHAT)
        assert openai_server.count("/chat/completions") == 2  # no cache: straight through
    with cachekit.enable_cache("local") as cache:
        assert cache is not None
        first = wrapped.chat.completions.create(**CHAT)
        assert same(wrapped.chat.completions.create(**CHAT), first)
        assert openai_server.count("/chat/completions") == 3
        assert cache.stats().errors == 0
    with cachekit.enable_cache("local"):  # a new cache: nothing in it yet
        wrapped.chat.completions.create(**CHAT)
        assert openai_server.count("/chat/completions") == 4


async def test_the_global_cache_serves_every_method_on_each_backend(
    aclient: openai.AsyncOpenAI,
    openai_server: OpenAIServer,
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    wrapped = wrap(aclient)
    async with cachekit.enable_cache(backend, **_options(backend, request, tmp_path)) as cache:
        assert cache is not None
        try:
            for _ in range(2):
                await wrapped.chat.completions.create(**CHAT)
                await wrapped.completions.create(model="i", prompt="p")
                await wrapped.embeddings.create(model="e", input=["a"])
                await wrapped.responses.create(model="m", input="hi")
                _ = [c async for c in await wrapped.chat.completions.create(**CHAT, stream=True)]
            assert openai_server.count() == 5
            stats = cache.stats()
            assert (stats.hits, stats.errors) == (5, 0)
        finally:
            await cache.aclose()
