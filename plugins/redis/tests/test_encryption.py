"""Encryption at rest on a real redis-server: the core's encrypted-cache contract on
standalone Redis, a Cluster and the L1 tier, then what is Redis's own: ``SCAN``-based
listing, server-side lifetimes kept by ``rekey``, semantic entries (what is encrypted
and what stays visible) and ``cachekit rekey`` run as a separate process."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cachekit import Cache
from cachekit.testing import EncryptedCacheContract
from cachekit_redis.testing import RedisClusterServer, RedisServer

OLD = os.urandom(32)
NEW = os.urandom(32)
MAGIC = b"CKE1"


class TestRedisEncrypted(EncryptedCacheContract):
    @pytest.fixture
    def cache_options(self, redis_server: RedisServer) -> dict[str, Any]:
        return {"type": "redis", "url": redis_server.url}


class TestRedisClusterEncrypted(EncryptedCacheContract):
    """``SCAN`` on every primary: ``rekey`` reaches the entries of every shard.

    The Cluster client does not retry (see ``_clients._cluster``): a connection that a
    loaded CI machine opens in more than the default 0.5 s would fail a rekey batch, so
    the connect timeout is generous here (rekey raises; it is not fail-open)."""

    @pytest.fixture
    def cache_options(self, redis_cluster: RedisClusterServer) -> dict[str, Any]:
        return {"type": "redis", "url": redis_cluster.url, "socket_connect_timeout": 5.0}


class TestTieredRedisEncrypted(EncryptedCacheContract):
    """An L1 in front: it holds ciphertext, and ``rekey`` lists and rewrites the L2."""

    @pytest.fixture
    def cache_options(self, redis_server: RedisServer) -> dict[str, Any]:
        return {"type": "redis", "url": redis_server.url, "l1_ttl": 30}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def make_cache(redis_server: RedisServer) -> AsyncIterator[Callable[..., Cache]]:
    made: list[Cache] = []
    namespace = f"enc{uuid.uuid4().hex[:10]}"

    def make(type: str = "redis", **options: Any) -> Cache:
        options.setdefault("namespace", namespace)
        cache = Cache(type=type, url=redis_server.url, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.aclear()
        await cache.aclose()


@pytest.mark.anyio
async def test_scan_pages_through_many_keys_and_skips_other_prefixes(
    make_cache: Callable[..., Cache], redis_server: RedisServer
) -> None:
    cache = make_cache(scan_count=7)  # many SCAN steps for a few hundred keys
    await cache.aset_many({f"k{i}": i for i in range(300)}, ttl=600)
    prefix = f"cachekit:v2:{cache.namespace}:"
    redis_server.command("SET", prefix.encode() + b"raw\xff", b"not UTF-8: not ours")
    redis_server.command("SET", f"cachekit:v2:{cache.namespace}x:k0", b"neighbour")
    scans = redis_server.command_calls("scan")
    found = {key async for key in cache.backend.scan(prefix)}
    assert found == {f"{prefix}k{i}" for i in range(300)}
    assert redis_server.command_calls("scan") - scans > 10
    redis_server.command("DEL", f"cachekit:v2:{cache.namespace}x:k0")


@pytest.mark.anyio
async def test_rekey_keeps_the_server_side_lifetime(
    make_cache: Callable[..., Cache], redis_server: RedisServer
) -> None:
    old = make_cache(encryption_key=OLD)
    await old.aset("timed", "v", ttl=600)
    await old.aset("forever", "v", ttl=None)
    new = make_cache(encryption_key=NEW)
    report = await new.arekey(old_keys=OLD)
    assert report.rekeyed == 2
    prefix = f"cachekit:v2:{new.namespace}:"
    pttl = redis_server.command("PTTL", prefix + "timed")
    assert 500_000 < pttl <= 600_000
    assert redis_server.command("PTTL", prefix + "forever") == -1
    assert redis_server.command("GET", prefix + "timed").startswith(MAGIC)


@pytest.mark.anyio
async def test_semantic_entries_are_encrypted_and_vectors_stay_visible(
    make_cache: Callable[..., Cache], redis_server: RedisServer
) -> None:
    cache = make_cache("redis-semantic", encryption_key=NEW, semantic_index="mirror")
    answer = {"choices": [{"message": {"role": "assistant", "content": "Paris, privately."}}]}
    asked = {
        "model": "m",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    reworded = {
        "model": "m",
        "messages": [{"role": "user", "content": "what is the capital of france"}],
    }
    await cache.async_add_cache(answer, **asked)
    assert await cache.async_get_cache(**reworded) == answer
    stored = redis_server.command("GET", cache.get_cache_key(**asked))
    assert stored.startswith(MAGIC) and b"Paris" not in stored
    index_keys = redis_server.command("KEYS", "cachekit:semantic:v1:*")
    assert index_keys  # the vector index (vectors, partition ids) is not encrypted
    dumped = b"".join(
        b"".join(redis_server.command("HVALS", key))
        for key in index_keys
        if redis_server.command("TYPE", key) == b"hash"
    )
    assert b"Paris" not in dumped and b"capital" not in dumped  # no text in it either
    stranger = make_cache("redis-semantic", encryption_key=OLD, semantic_index="mirror")
    assert await stranger.async_get_cache(**reworded) is None


def test_cli_rekey_against_redis_shows_no_key_and_no_password(
    redis_server_with_password: RedisServer,
) -> None:
    server = redis_server_with_password
    namespace = f"cli{uuid.uuid4().hex[:8]}"
    old = Cache(type="redis", url=server.url, namespace=namespace, encryption_key=OLD)
    old.set_many({f"k{i}": i for i in range(50)}, ttl=600)
    old.close()
    old_b64, new_b64 = base64.b64encode(OLD).decode(), base64.b64encode(NEW).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEKIT_", "REDIS_"))}
    env.update(CACHEKIT_ENCRYPTION_KEY=new_b64, CACHEKIT_OLD_ENCRYPTION_KEYS=old_b64)
    for json_flag in ([], ["--json"]):
        done = subprocess.run(
            [str(Path(sys.executable).with_name("cachekit")), "--url", server.url, "rekey",
             "--namespace", namespace, "--batch-size", "8", *json_flag],
            capture_output=True, text=True, input="", env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        for secret in (old_b64, new_b64, OLD.hex(), NEW.hex(), str(server.password)):
            assert secret not in done.stdout and secret not in done.stderr
    doc = json.loads(done.stdout)
    assert (doc["rekeyed"], doc["current"]) == (0, 50)  # the first run did the work
    new = Cache(type="redis", url=server.url, namespace=namespace, encryption_key=NEW)
    try:
        assert new.get_many([f"k{i}" for i in range(50)]) == list(range(50))
    finally:
        new.clear()
        new.close()
