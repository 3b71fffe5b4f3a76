"""A real S3 HTTP API for the tests: moto's server mode on a free loopback port.

``moto_server`` (session scope) starts ``python -m moto.server`` as a subprocess
on 127.0.0.1 (:class:`cachekit_s3.testing.MotoServer`), waits until it answers and
stops it at the end; the tests talk to it over HTTP exactly as they would to S3,
MinIO or R2. Inspection uses boto3 (sync, in the tests only), which comes with moto.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cachekit_s3._plugin
import pluggy
import pytest
from cachekit import Cache, CacheEvent, build_plugin_manager, hookimpl
from cachekit.testing import free_port
from cachekit_s3.testing import MotoServer


class Recorder:
    """An observer plugin that keeps every error and hit event."""

    def __init__(self) -> None:
        self.errors: list[CacheEvent] = []
        self.hits: list[CacheEvent] = []

    @hookimpl
    def cachekit_on_error(self, event: CacheEvent) -> None:
        self.errors.append(event)

    @hookimpl
    def cachekit_on_hit(self, event: CacheEvent) -> None:
        self.hits.append(event)


def plugin_manager(*observers: object) -> pluggy.PluginManager:
    """A hermetic plugin manager: the core's built-ins, the s3 plugin, ``observers``."""
    pm = build_plugin_manager(autoload=False)
    pm.register(cachekit_s3._plugin, name="s3")
    for observer in observers:
        pm.register(observer)
    return pm


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def bucket(moto_server: MotoServer) -> str:
    name = "cachekit-tests"
    moto_server.create_bucket(name)
    return name


@pytest.fixture
def s3_options(moto_server: MotoServer, bucket: str) -> dict[str, Any]:
    """Backend options for the test bucket, under a fresh ``s3_path``."""
    return moto_server.options(bucket, s3_path=f"tests/{uuid.uuid4().hex[:10]}")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def make_cache(s3_options: dict[str, Any], recorder: Recorder) -> AsyncIterator[Any]:
    """Build ``Cache(type="s3")`` objects on the test bucket, observed by ``recorder``;
    keyword arguments override the options (``None`` removes one). The timeout is
    generous so a slow CI machine cannot flake. Each is closed at the end."""
    made: list[Cache] = []

    def make(**extra: Any) -> Cache:
        options = {"timeout": 10, **s3_options, **extra}
        cache = Cache(type="s3", plugins=plugin_manager(recorder), **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        # The backend directly: Cache.aclose() goes through the circuit breaker, which
        # skips it while open (after the failure tests).
        await cache.backend.aclose()


@pytest.fixture
def unused_endpoint() -> str:
    """An HTTP endpoint on a loopback port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiobotocore runs on asyncio only
