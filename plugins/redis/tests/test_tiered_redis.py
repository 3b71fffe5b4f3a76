"""The core's L1 tier (``TieredBackend``) in front of a real redis-server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from cachekit import BackendUnavailableError, LocalBackend, TieredBackend
from cachekit.testing import FakeClock
from cachekit_redis import RedisBackend
from cachekit_redis.testing import RedisServer

L1_TTL = 2.0


@pytest.fixture
def prefix() -> str:
    return f"cachekit:v2:l1-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def clock() -> FakeClock:
    """The L1's clock (Redis keeps its own time for the L2)."""
    return FakeClock()


@pytest.fixture
async def tiered(
    redis_server: RedisServer, clock: FakeClock, prefix: str
) -> AsyncIterator[TieredBackend]:
    instance = TieredBackend(LocalBackend(clock=clock), RedisBackend(url=redis_server.url), L1_TTL)
    yield instance
    await instance.l2.clear(prefix)
    await instance.aclose()


@pytest.fixture
async def other_process(redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
    """Another writer of the same Redis (another process, in real life)."""
    instance = RedisBackend(url=redis_server.url)
    yield instance
    await instance.aclose()


@pytest.mark.anyio
async def test_l1_hit_never_reaches_redis(
    tiered: TieredBackend, redis_server: RedisServer, prefix: str
) -> None:
    await tiered.set(prefix + "k", b"v", None)
    gets = redis_server.command_calls("get")
    for _ in range(5):
        assert await tiered.get(prefix + "k") == b"v"
    assert redis_server.command_calls("get") == gets


@pytest.mark.anyio
async def test_other_writers_are_seen_within_l1_ttl(
    tiered: TieredBackend, other_process: RedisBackend, clock: FakeClock, prefix: str
) -> None:
    await tiered.set(prefix + "k", b"old", None)
    await other_process.set(prefix + "k", b"new", None)
    assert await tiered.get(prefix + "k") == b"old"  # the documented staleness
    clock.advance(L1_TTL + 0.01)
    assert await tiered.get(prefix + "k") == b"new"


@pytest.mark.anyio
async def test_delete_and_clear_through_the_tier_reach_both(
    tiered: TieredBackend, redis_server: RedisServer, prefix: str
) -> None:
    await tiered.set_many({prefix + "a": b"1", prefix + "b": b"2", prefix + "c": b"3"}, 60.0)
    assert await tiered.delete(prefix + "a") is True
    assert await tiered.get(prefix + "a") is None
    assert redis_server.command("EXISTS", prefix + "a") == 0
    assert await tiered.clear(prefix) == 2
    assert await tiered.get_many([prefix + "b", prefix + "c"]) == [None, None]
    assert redis_server.command("EXISTS", prefix + "b", prefix + "c") == 0


@pytest.mark.anyio
async def test_batch_read_fills_l1_from_one_mget(
    tiered: TieredBackend, other_process: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    keys = [f"{prefix}e{i}" for i in range(10)]
    await other_process.set_many({k: k.encode() for k in keys[:8]}, None)
    mgets = redis_server.command_calls("mget")
    assert await tiered.get_many(keys) == [k.encode() for k in keys[:8]] + [None, None]
    assert redis_server.command_calls("mget") == mgets + 1
    assert await tiered.l1.get_many(keys) == [k.encode() for k in keys[:8]] + [None, None]


@pytest.mark.anyio
async def test_hot_entries_survive_an_outage_from_l1(fresh_redis_server: RedisServer) -> None:
    tiered = TieredBackend(LocalBackend(), RedisBackend(url=fresh_redis_server.url), 30.0)
    try:
        await tiered.set("cachekit:v2:hot:k", b"hot", None)
        fresh_redis_server.kill()
        assert await tiered.get("cachekit:v2:hot:k") == b"hot"
        with pytest.raises(BackendUnavailableError):
            await tiered.get("cachekit:v2:hot:cold")
    finally:
        await tiered.aclose()
