"""A real 3-master Redis Cluster: batch reads across slots, writes, clear on every node.
(The full backend contract runs against it in test_contract.py.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from cachekit import Cache
from cachekit_redis import RedisBackend
from cachekit_redis.testing import RedisClusterServer, RedisSentinelServer
from redis.crc import key_slot


@pytest.fixture
def prefix() -> str:
    return f"cachekit:v2:cl-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def backend(redis_cluster: RedisClusterServer) -> AsyncIterator[RedisBackend]:
    instance = RedisBackend(redis_startup_nodes=redis_cluster.startup_nodes)
    yield instance
    await instance.aclose()


@pytest.mark.anyio
async def test_batch_read_is_one_mget_per_slot_in_order(
    backend: RedisBackend, redis_cluster: RedisClusterServer, prefix: str
) -> None:
    keys = [f"{prefix}emb-{i}" for i in range(60)]
    slots = {key_slot(k.encode()) for k in keys}
    owners = {redis_cluster.node_for_slot(s).port for s in slots}
    assert len(owners) == 3  # the batch really spans every master
    stored = {k: k.encode() for k in keys[::3]}
    await backend.set_many(stored, None)

    wanted = [*keys, keys[0], f"{prefix}absent"]
    mgets, gets = redis_cluster.command_calls("mget"), redis_cluster.command_calls("get")
    values = await backend.get_many(wanted)
    assert values == [stored.get(k) for k in wanted]
    assert redis_cluster.command_calls("mget") - mgets == len(
        slots | {key_slot(wanted[-1].encode())}
    )
    assert redis_cluster.command_calls("get") == gets


@pytest.mark.anyio
async def test_hash_tagged_batch_is_a_single_mget(
    backend: RedisBackend, redis_cluster: RedisClusterServer, prefix: str
) -> None:
    keys = [f"{{{prefix}}}:{i}" for i in range(20)]  # one hash tag, one slot
    await backend.set_many({k: b"x" for k in keys}, None)
    mgets = redis_cluster.command_calls("mget")
    assert await backend.get_many(keys) == [b"x"] * 20
    assert redis_cluster.command_calls("mget") - mgets == 1
    assert await backend.clear(f"{{{prefix}}}") == 20


@pytest.mark.anyio
async def test_set_many_expiry_lands_on_each_owner(
    backend: RedisBackend, redis_cluster: RedisClusterServer, prefix: str
) -> None:
    mapping = {f"{prefix}t{i}": b"v" for i in range(30)}
    await backend.set_many(mapping, 0.5)
    for key in mapping:
        owner = redis_cluster.node_for_slot(key_slot(key.encode()))
        assert 0 < owner.command("PTTL", key) <= 500


@pytest.mark.anyio
async def test_clear_reaches_every_master(
    backend: RedisBackend, redis_cluster: RedisClusterServer, prefix: str
) -> None:
    mapping = {f"{prefix}c{i}": b"v" for i in range(50)}
    await backend.set_many(mapping, None)
    await backend.set(prefix[:-1] + "-keep:1", b"keep", None)
    keys = redis_cluster.command_calls("keys")
    assert await backend.clear(prefix) == 50
    assert redis_cluster.command_calls("keys") == keys
    assert await backend.get_many(list(mapping)) == [None] * 50
    assert await backend.get(prefix[:-1] + "-keep:1") == b"keep"
    await backend.delete(prefix[:-1] + "-keep:1")


@pytest.mark.anyio
async def test_cache_over_a_cluster_url(redis_cluster: RedisClusterServer) -> None:
    namespace = f"cl-{uuid.uuid4().hex[:8]}"
    async with Cache.from_url(f"{redis_cluster.url}?namespace={namespace}") as cache:
        await cache.aset_many({f"item-{i}": [i, i * 2] for i in range(40)}, ttl=60)
        values = await cache.aget_many([f"item-{i}" for i in range(42)])
        assert values == [[i, i * 2] for i in range(40)] + [None, None]
        assert await cache.aclear() == 40


@pytest.mark.anyio
async def test_cache_over_sentinel_writes_to_the_master(
    redis_sentinel: RedisSentinelServer,
) -> None:
    namespace = f"se-{uuid.uuid4().hex[:8]}"
    async with Cache.from_url(f"{redis_sentinel.url}?namespace={namespace}") as cache:
        await cache.aset("k", {"via": "sentinel"}, ttl=0.5)
        assert await cache.aget("k") == {"via": "sentinel"}
        assert 0 < redis_sentinel.master.command("PTTL", f"cachekit:v2:{namespace}:k") <= 500
        assert await cache.aclear() == 1
