"""Fixtures: the real ``openai`` SDK against ``cachekit.testing.OpenAIServer`` (a
loopback OpenAI-compatible server that counts requests), and a ``Cache`` on each of
the ``local``, ``redis`` (a real redis-server on a free port) and ``disk`` backends.

A hit is proven where the provider is: by counting requests at the server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from cachekit import Cache
from cachekit.testing import (
    async_openai_client,
    openai_client,
    openai_server,
    openai_server_session,
)

from ._support import MakeCache

__all__ = [
    "async_openai_client",
    "openai_client",
    "openai_server",
    "openai_server_session",
]  # fixtures

BACKENDS = ("local", "redis", "disk")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK and redis-py are asyncio only


@pytest.fixture(autouse=True)
def _no_provider_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OPENAI_*/REDIS_*/AZURE_* variables of whoever runs the tests must not change them."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "REDIS_", "AZURE_OPENAI", "CACHEKIT_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    testing = pytest.importorskip("cachekit_redis.testing")
    with testing.RedisServer() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_cache(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[MakeCache]:
    """Caches on the test's backend, each in a namespace of its own (the session's Redis
    needs no flushing). Async, so caches are closed on the test's loop (sync tests get
    it too, through ``anyio_backend``)."""
    built: list[Cache] = []
    server: Any = None
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
    elif backend == "disk":
        pytest.importorskip("cachekit_disk")

    def make(**options: Any) -> Cache:
        options.setdefault("namespace", f"t{uuid.uuid4().hex[:16]}")
        if server is not None:
            options = {"host": server.host, "port": server.port, **options}
        elif backend == "disk":
            options = {"disk_cache_dir": str(tmp_path / f"disk-{len(built)}"), **options}
        cache = Cache(type=backend, **options)
        built.append(cache)
        return cache

    yield make
    for cache in built:
        await cache.aclose()


@pytest.fixture
def cache(make_cache: MakeCache) -> Cache:
    return make_cache()


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    """A sync SDK client on the loopback server (no retries: a request is a request)."""
    return openai_client


@pytest.fixture
def aclient(async_openai_client: openai.AsyncOpenAI) -> openai.AsyncOpenAI:
    """An async SDK client on the loopback server (no retries)."""
    return async_openai_client
