"""Read coalescing on a real server: concurrent single-key reads share one MGET,
each caller gets its own value, cancellation and failures stay per caller."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from cachekit import BackendError, BackendUnavailableError
from cachekit_redis import RedisBackend
from cachekit_redis.testing import RedisClusterServer, RedisServer


@pytest.fixture
def prefix() -> str:
    return f"cachekit:v2:co-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def backend(redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
    instance = RedisBackend(url=redis_server.url)
    yield instance
    await instance.aclose()


@pytest.mark.anyio
async def test_concurrent_reads_share_mgets_and_keep_their_own_values(
    backend: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    keys = [f"{prefix}{i}" for i in range(64)]
    await backend.set_many({k: f"value-{k}".encode() for k in keys[::2]}, None)
    gets, mgets = redis_server.command_calls("get"), redis_server.command_calls("mget")
    wanted = keys + keys[:8]  # duplicates too
    values = await asyncio.gather(*(backend.get(k) for k in wanted))
    assert values == [f"value-{k}".encode() if keys.index(k) % 2 == 0 else None for k in wanted]
    commands = (redis_server.command_calls("get") - gets) + (
        redis_server.command_calls("mget") - mgets
    )
    assert commands <= 4  # instead of 72 GETs: the first read alone, the rest batched


@pytest.mark.anyio
async def test_sequential_reads_stay_plain_gets(
    backend: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    await backend.set(prefix + "k", b"v", None)
    mgets = redis_server.command_calls("mget")
    for _ in range(5):
        assert await backend.get(prefix + "k") == b"v"
    assert redis_server.command_calls("mget") == mgets


@pytest.mark.anyio
async def test_a_cancelled_reader_does_not_disturb_the_batch(
    backend: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    await backend.set_many({prefix + "a": b"A", prefix + "b": b"B", prefix + "c": b"C"}, None)
    first = asyncio.ensure_future(backend.get(prefix + "a"))
    queued = [asyncio.ensure_future(backend.get(prefix + k)) for k in "bc"]
    await asyncio.sleep(0)  # all three are waiting now; "b" and "c" are queued
    queued[0].cancel()
    assert await first == b"A"
    assert await queued[1] == b"C"
    with pytest.raises(asyncio.CancelledError):
        await queued[0]
    assert await backend.get(prefix + "b") == b"B"


@pytest.mark.anyio
async def test_failure_reaches_every_waiting_reader(fresh_redis_server: RedisServer) -> None:
    backend = RedisBackend(url=fresh_redis_server.url)
    try:
        await backend.set("cachekit:v2:co:k", b"v", None)
        fresh_redis_server.kill()
        with anyio.fail_after(5):
            results = await asyncio.gather(
                *(backend.get(f"cachekit:v2:co:{i}") for i in range(10)), return_exceptions=True
            )
        assert all(isinstance(r, BackendUnavailableError) for r in results), results
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_coalescing_can_be_turned_off(redis_server: RedisServer, prefix: str) -> None:
    backend = RedisBackend(url=redis_server.url + "?coalesce_reads=false")
    try:
        await backend.set(prefix + "k", b"v", None)
        mgets, gets = redis_server.command_calls("mget"), redis_server.command_calls("get")
        assert await asyncio.gather(*(backend.get(prefix + "k") for _ in range(10))) == [b"v"] * 10
        assert redis_server.command_calls("mget") == mgets
        assert redis_server.command_calls("get") == gets + 10
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_cluster_coalesced_reads_route_by_slot(
    redis_cluster: RedisClusterServer, prefix: str
) -> None:
    backend = RedisBackend(url=redis_cluster.url)
    try:
        keys = [f"{prefix}{i}" for i in range(40)]
        await backend.set_many({k: k.encode() for k in keys}, 60.0)
        values = await asyncio.gather(*(backend.get(k) for k in keys))
        assert values == [k.encode() for k in keys]
        await backend.clear(prefix)
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_server_errors_are_cachekit_errors(backend: RedisBackend, prefix: str) -> None:
    """A server error reply (GET on a list: WRONGTYPE) surfaces as BackendError. (In an
    MGET, batched or ``get_many``, Redis answers nil for such a key: a miss.)"""
    from redis.asyncio import Redis

    client = Redis.from_url(backend.settings.describe())
    try:
        await client.rpush(prefix + "list", b"x")  # GET on a list is WRONGTYPE
    finally:
        await client.aclose()
    with pytest.raises(BackendError):
        await backend.get(prefix + "list")
    await backend.delete(prefix + "list")


@pytest.mark.anyio
async def test_batches_nobody_waits_for_are_cancelled(fresh_redis_server: RedisServer) -> None:
    """On a hung server the callers give up (the core's timeout); their batch must not
    linger in the background (there is no socket timeout by default)."""
    server = fresh_redis_server
    backend = RedisBackend(url=server.url)
    try:
        await backend.set("cachekit:v2:co:k", b"v", None)
        reads = backend._clients.get().reads
        assert reads is not None
        server.pause()
        try:
            with anyio.move_on_after(0.3):
                await asyncio.gather(*(backend.get(f"cachekit:v2:co:{i}") for i in range(10)))
            batches = set(reads._tasks)
            assert batches  # the nine queued reads went out as a batch
            with anyio.fail_after(5):  # cancelled, not waiting for the hung server
                await asyncio.wait(batches)
            assert all(task.cancelled() for task in batches)
            assert reads.inflight == 0
        finally:
            server.resume()
        assert await backend.get("cachekit:v2:co:k") == b"v"
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_aclose_during_a_hung_batch_fails_its_readers(
    fresh_redis_server: RedisServer,
) -> None:
    server = fresh_redis_server
    backend = RedisBackend(url=server.url)
    await backend.set("cachekit:v2:co:k", b"v", None)
    server.pause()
    try:
        readers = [asyncio.ensure_future(backend.get(f"cachekit:v2:co:{i}")) for i in range(5)]
        await asyncio.sleep(0.05)  # the first read and a batch are now waiting on Redis
        with anyio.fail_after(5):
            await backend.aclose()
            results = await asyncio.gather(*readers[1:], return_exceptions=True)
        assert all(isinstance(r, BackendUnavailableError) for r in results), results
        readers[0].cancel()  # the lone GET belongs to its caller (the core's timeout)
        await asyncio.gather(readers[0], return_exceptions=True)
    finally:
        server.resume()
