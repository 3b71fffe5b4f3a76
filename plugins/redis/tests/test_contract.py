"""The core's backend contract against real servers: standalone, Cluster, Sentinel,
and the core's L1 tier in front of a real Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cachekit import AsyncBackend, LocalBackend, TieredBackend
from cachekit.testing import BackendContract
from cachekit_redis import RedisBackend
from cachekit_redis.testing import RedisClusterServer, RedisSentinelServer, RedisServer


class TestStandaloneContract(BackendContract):
    @pytest.fixture
    def make_backend(self, redis_server: RedisServer) -> Callable[[], AsyncBackend]:
        return lambda: RedisBackend(url=redis_server.url)


class TestClusterContract(BackendContract):
    @pytest.fixture
    def make_backend(self, redis_cluster: RedisClusterServer) -> Callable[[], AsyncBackend]:
        return lambda: RedisBackend(url=redis_cluster.url)


class TestSentinelContract(BackendContract):
    @pytest.fixture
    def make_backend(self, redis_sentinel: RedisSentinelServer) -> Callable[[], AsyncBackend]:
        return lambda: RedisBackend(
            sentinel_nodes=redis_sentinel.sentinel_nodes, service_name=redis_sentinel.service_name
        )


class TestTieredOverRedisContract(BackendContract):
    """L1 in process, L2 a real redis-server: the pair still keeps the contract."""

    @pytest.fixture
    def make_backend(self, redis_server: RedisServer) -> Callable[[], AsyncBackend]:
        return lambda: TieredBackend(LocalBackend(), RedisBackend(url=redis_server.url), 30.0)
