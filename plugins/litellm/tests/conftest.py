"""LiteLLM itself, with ``litellm.cache`` a ``cachekit_litellm.Cache`` on real backends.

Calls go through LiteLLM's public functions: ``mock_response`` where LiteLLM's mock
covers the path, LiteLLM's OpenAI provider with ``client=`` on a loopback
:class:`cachekit.testing.OpenAIServer` where it does not (list embeddings,
transcriptions). Backends are real: a redis-server (also with its semantic index),
moto's S3 server, the filesystem. Provider calls are counted where they happen: at the
server, or by a LiteLLM ``CustomLogger`` whose pre-call hook runs once per call LiteLLM
makes to a provider, mocked or not (a hit makes none).
"""

from __future__ import annotations

import os

# LiteLLM fetches its model price map over the network at import unless told not to.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import cachekit_litellm
import litellm
import openai
import pytest
from cachekit.testing import (
    FakeClock,
    async_openai_client,
    openai_client,
    openai_server,
    openai_server_session,
)
from cachekit_redis.testing import RedisServer
from cachekit_s3.testing import MotoServer

from ._support import Calls, MakeCache, flush_litellm

__all__ = [
    "async_openai_client",
    "openai_client",
    "openai_server",
    "openai_server_session",
]  # fixtures

#: Every backend the doc's examples run on.
BACKENDS = ("local", "redis", "disk", "s3", "redis-semantic")


def pytest_configure(config: pytest.Config) -> None:
    # LiteLLM 1.110 imports its GitHub Copilot authenticator lazily on the first call,
    # and pydantic >= 2.12 warns about that module's ReadOnly TypedDict items: noise
    # from a third party's import, not a behaviour under test.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Items? .* using the `ReadOnly` qualifier:UserWarning",
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # LiteLLM, redis-py and aiobotocore are asyncio only


@pytest.fixture(autouse=True)
def _litellm_globals(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Each test starts with no ``litellm.cache``, empty callback lists and a fresh
    counter as LiteLLM's only callback; all of it is restored afterwards."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "REDIS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setattr(litellm, "cache", None)
    for name in (
        "input_callback",
        "success_callback",
        "failure_callback",
        "_async_success_callback",
        "_async_failure_callback",
    ):
        monkeypatch.setattr(litellm, name, [])
    calls = Calls()
    monkeypatch.setattr(litellm, "callbacks", [calls])
    return calls


@pytest.fixture
def calls(_litellm_globals: Calls) -> Calls:
    return _litellm_globals


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_bucket() -> Iterator[tuple[MotoServer, str]]:
    with MotoServer() as server:
        server.create_bucket("cachekit-litellm")
        yield server, "cachekit-litellm"


@pytest.fixture
def aclient(async_openai_client: openai.AsyncOpenAI) -> openai.AsyncOpenAI:
    """An async SDK client on the loopback server (no retries)."""
    return async_openai_client


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    """A sync SDK client on the loopback server (no retries: a request is a request)."""
    return openai_client


@pytest.fixture
def clock() -> FakeClock:
    """Wall-clock seconds the caches read (so lifetimes pass without sleeping)."""
    return FakeClock(start=time.time())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def backend_options(
    backend: str, request: pytest.FixtureRequest, directory: Path
) -> dict[str, Any]:
    """``Cache(...)`` keywords that put a cache on ``backend`` (its servers started)."""
    if backend in ("redis", "redis-semantic"):
        server: RedisServer = request.getfixturevalue("redis_server")
        return {"type": backend, "host": server.host, "port": server.port}
    if backend == "s3":
        moto, bucket = request.getfixturevalue("moto_bucket")
        return {
            "type": "s3",
            **moto.options(bucket, s3_path=f"t/{uuid.uuid4().hex[:10]}"),
            "timeout": 10,
        }
    if backend == "disk":
        return {"type": "disk", "disk_cache_dir": str(directory)}
    return {"type": backend}


@pytest.fixture
async def make_cache(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: FakeClock,
    anyio_backend: str,
) -> AsyncIterator[MakeCache]:
    """Build ``cachekit_litellm.Cache`` objects on the test's backend, each in a
    namespace of its own, reading ``clock``; closed at the end. An async fixture (sync
    tests get it too, through ``anyio_backend``) so that caches are closed on the loop
    of the test: a Redis connection opened by an async test is closed on that loop."""
    built: list[cachekit_litellm.Cache] = []

    def make(**options: Any) -> cachekit_litellm.Cache:
        options.setdefault("namespace", f"t{uuid.uuid4().hex[:16]}")
        options.setdefault("clock", clock)
        where = backend_options(backend, request, tmp_path / f"disk-{len(built)}")
        cache = cachekit_litellm.Cache(**{**where, **options})
        built.append(cache)
        return cache

    yield make
    await flush_litellm()
    for cache in built:
        await cache.backend.aclose()  # the backend itself: an open circuit skips aclose()
