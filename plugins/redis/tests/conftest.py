"""Real servers for the Redis plugin's tests, started on free loopback ports.

Session-scoped servers are shared (every test works under its own key prefix or
namespace); tests that kill or pause a server get their own (``fresh_redis_server``).
Nothing here talks to a Redis the machine already runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pluggy
import pytest
from cachekit import build_plugin_manager
from cachekit_redis.testing import RedisClusterServer, RedisSentinelServer, RedisServer

#: The password of ``redis_server_with_password`` (tests check it never leaks).
SERVER_PASSWORD = "s3rver-Pa55-never-stored"


@pytest.fixture(autouse=True)
def _no_redis_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The REDIS_* variables of whoever runs the tests must not change them."""
    for name in list(os.environ):
        if name.startswith("REDIS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py is asyncio only


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server_with_password() -> Iterator[RedisServer]:
    with RedisServer(password=SERVER_PASSWORD) as server:
        yield server


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A server of the test's own, free to kill, pause and restart."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    with RedisClusterServer(masters=3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinelServer]:
    with RedisSentinelServer() as sentinel:
        yield sentinel


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """The process's entry points loaded, as a user gets them (cachekit-redis included)."""
    return build_plugin_manager(autoload=True)
