"""Fixtures of the cross-package suite: the real ``openai`` SDK against a loopback
OpenAI-compatible server, LiteLLM with ``mock_response``, and a ``Cache`` on each of
the ``local``, ``redis`` (a real redis-server) and ``disk`` backends.

Hits are proven where the provider is: requests counted at the server (openai,
LiteLLM's OpenAI provider) or calls counted by a LiteLLM ``CustomLogger``.
"""

from __future__ import annotations

import os

# LiteLLM fetches its model price map over the network at import unless told not to.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pytest
from cachekit import Cache
from cachekit.testing import (
    async_openai_client,
    openai_client,
    openai_server,
    openai_server_session,
)
from cachekit_redis.testing import RedisServer

from ._sdk import MakeCache

if TYPE_CHECKING:
    from ._litellm import LiteLLMCalls

__all__ = [
    "async_openai_client",
    "openai_client",
    "openai_server",
    "openai_server_session",
]  # fixtures

BACKENDS = ("local", "redis", "disk")


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
    return "asyncio"  # the SDKs and redis-py are asyncio only


@pytest.fixture(autouse=True)
def _no_provider_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OPENAI_*/REDIS_* variables of whoever runs the tests must not change them."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "REDIS_", "AZURE_OPENAI")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_cache(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[MakeCache]:
    """Build caches on the test's backend, each in a namespace of its own (so the
    session's Redis needs no flushing). An async fixture (sync tests get it too,
    through ``anyio_backend``) so that caches are closed on the loop of the test:
    a Redis connection opened by an async test must be closed on that loop."""
    built: list[Cache] = []
    server: RedisServer | None = None
    if backend == "redis":
        server = request.getfixturevalue("redis_server")

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


@pytest.fixture
def litellm_calls(monkeypatch: pytest.MonkeyPatch) -> LiteLLMCalls:
    """A fresh counter as LiteLLM's only callback; LiteLLM's callback lists are
    restored after the test (LiteLLM copies ``callbacks`` into them on each call)."""
    litellm = pytest.importorskip("litellm")
    from ._litellm import LiteLLMCalls

    counter = LiteLLMCalls()
    for name in (
        "input_callback",
        "success_callback",
        "failure_callback",
        "_async_success_callback",
        "_async_failure_callback",
    ):
        monkeypatch.setattr(litellm, name, [])
    monkeypatch.setattr(litellm, "callbacks", [counter])
    return counter
