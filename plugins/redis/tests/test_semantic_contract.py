"""``redis-semantic`` keeps both contracts (bytes and vectors) on real servers:
a standalone redis-server 7 (no modules: the mirror index) and a 3-master Cluster."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cachekit import AsyncBackend
from cachekit.testing import SemanticBackendContract
from cachekit_redis._semantic import RedisSemanticBackend
from cachekit_redis.testing import RedisClusterServer, RedisServer


class TestRedisSemanticContract(SemanticBackendContract):
    @pytest.fixture
    def make_backend(self, redis_server: RedisServer) -> Callable[[], AsyncBackend]:
        return lambda: RedisSemanticBackend(url=redis_server.url)


class TestRedisSemanticClusterContract(SemanticBackendContract):
    """Every partition's keys share a hash tag, so its scripts run on one node."""

    @pytest.fixture
    def make_backend(self, redis_cluster: RedisClusterServer) -> Callable[[], AsyncBackend]:
        return lambda: RedisSemanticBackend(url=redis_cluster.url)  # auto: the mirror
