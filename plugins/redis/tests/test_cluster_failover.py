"""A master of a real Redis Cluster killed (SIGKILL) under a cache: one breaker per node.

The cluster has one replica per master and ``cluster-require-full-coverage no`` (what
the plugin README recommends for a cache). Keys on the other masters' slots keep
hitting right after the kill, while the dead master's breaker is open (one breaker
for the whole cluster would have refused them); keys on the dead master's slots run
uncached with one WARNING, and hit again (from the promoted replica) within a bounded
number of breaker probes once ``CLUSTER INFO`` says ``cluster_state:ok``. The
breaker's clock is injected; wall-time figures come from
``benchmarks/cluster_failover.py``, not from here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from cachekit import BackendUnavailableError, Cache
from cachekit.testing import FakeClock
from cachekit_redis import RedisBackend
from cachekit_redis.testing import RedisClusterServer, RedisServer
from redis.crc import key_slot

#: A fault domain's open breaker probes at least this often (``AsyncBackend.fault_domain``).
DOMAIN_MAX_COOLDOWN = 0.5
#: Per-operation bound: a dead node refuses connections at once on loopback.
OP_TIMEOUT = 1.0
#: Breaker probes allowed, each after ``DOMAIN_MAX_COOLDOWN`` of the injected clock,
#: before keys of the dead master's slots must hit again once the cluster is ok.
PROBES = 2


@pytest.fixture
def cluster() -> Iterator[RedisClusterServer]:
    """A cluster of the test's own (one master dies): 3 masters, 3 replicas."""
    with RedisClusterServer(
        replicas=1, node_timeout_ms=1000, require_full_coverage=False
    ) as cluster:
        yield cluster


def make_cache(cluster: RedisClusterServer, clock: FakeClock) -> Cache:
    """A cache over the cluster's URL whose breakers (threshold 3) use ``clock``."""
    return Cache(
        type="redis",
        url=cluster.url,
        timeout=OP_TIMEOUT,
        breaker={"threshold": 3, "cooldown": 5, "clock": clock},
    )


def request(i: int) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]}


def split_requests(
    cache: Cache, cluster: RedisClusterServer, victim: RedisServer
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Requests whose entries live on ``victim``, and on the other masters (3 each)."""
    dead: list[dict[str, Any]] = []
    alive: list[dict[str, Any]] = []
    for i in range(200):
        req = request(i)
        owner = cluster.node_for_slot(key_slot(cache.get_cache_key(**req).encode()))
        (dead if owner is victim else alive).append(req)
    assert len(dead) >= 3 and len(alive) >= 3
    return dead[:3], alive[:3]


@pytest.mark.anyio
async def test_a_dead_master_stops_caching_only_on_its_slots_and_comes_back(
    cluster: RedisClusterServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(start=0.0)
    cache = make_cache(cluster, clock)
    calls: list[int] = []

    @cache.cached("acompletion")
    async def provider(**kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return {"answer": len(calls), "question": kwargs["messages"][0]["content"]}

    victim = cluster.node_for_slot(0)
    dead, alive = split_requests(cache, cluster, victim)
    answers = [await provider(**req) for req in dead + alive]  # stored (and replicated)
    assert [await provider(**req) for req in dead + alive] == answers  # hits
    await anyio.to_thread.run_sync(cluster.wait_replicated, victim)
    provided = len(calls)

    victim.kill()
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        for _ in range(3):
            for req in dead:
                before = len(calls)
                await provider(**req)  # fail open: uncached
                assert len(calls) == before + 1
            breakers = cache._engine.chokepoint.breakers
            assert breakers is not None and breakers.get(victim.address).is_open
            # A single breaker for the cluster would be open now; these still hit.
            for req, answer in zip(alive, answers[len(dead) :], strict=True):
                assert await provider(**req) == answer
        outage_calls = len(calls) - provided
        assert outage_calls == 3 * len(dead)

        await anyio.to_thread.run_sync(cluster.wait_failover, victim)  # replica promoted
        assert cluster.is_ok()  # CLUSTER INFO: cluster_state:ok, every slot ok
        attempts = 0
        while True:
            attempts += 1
            clock.advance(DOMAIN_MAX_COOLDOWN)
            before = len(calls)
            result = await provider(**dead[0])
            if len(calls) == before:  # a hit, from the promoted replica
                assert result == answers[0]
                break
            assert attempts < PROBES, f"no hit after {attempts} probes past cluster_state:ok"
        for req, answer in zip(dead + alive, answers, strict=True):
            assert await provider(**req) == answer
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "cannot be reached" in warnings[0].getMessage()
    await cache.aclear()
    await cache.aclose()


@pytest.mark.anyio
async def test_concurrent_reads_and_batches_fail_only_the_dead_masters_keys(
    cluster: RedisClusterServer,
) -> None:
    """Concurrent reads are coalesced into MGETs and batches span every master: both
    are grouped per node, so the dead master fails only its own keys' reads."""
    clock = FakeClock(start=0.0)
    cache = make_cache(cluster, clock)
    victim = cluster.node_for_slot(0)
    keys = [f"item-{i}" for i in range(60)]
    await cache.aset_many({key: key for key in keys})
    lost = {k for k in keys if cluster.node_for_slot(key_slot(cache._key(k).encode())) is victim}
    kept = [key for key in keys if key not in lost]
    assert lost and kept

    victim.kill()
    results = await asyncio.gather(*(cache.aget(key) for key in keys), return_exceptions=True)
    for key, result in zip(keys, results, strict=True):
        if key in lost:
            assert isinstance(result, BackendUnavailableError), (key, result)
        else:
            assert result == key
    for _ in range(3):
        with pytest.raises(BackendUnavailableError):
            await cache.aget_many(keys)  # the dead part fails the batch...
    breakers = cache._engine.chokepoint.breakers
    assert breakers is not None and breakers.get(victim.address).is_open
    for node in cluster.live_nodes():  # ...and never opens a live node's breaker
        assert not breakers.get(node.address).is_open
    assert await cache.aget_many(kept) == kept
    await cache.aset_many({key: key.upper() for key in kept})
    assert await cache.aget_many(kept) == [key.upper() for key in kept]
    await cache.aclose()


@pytest.mark.anyio
async def test_fault_domain_is_the_node_serving_the_slot(
    redis_cluster: RedisClusterServer, redis_server: RedisServer
) -> None:
    keys = [f"cachekit:v2:fd:{i}" for i in range(30)]
    backend = RedisBackend(url=redis_cluster.url)
    assert {backend.fault_domain(key) for key in keys} == {None}  # before discovery
    await backend.get(keys[0])  # discovers the slot map
    for key in keys:
        assert (
            backend.fault_domain(key) == redis_cluster.node_for_slot(key_slot(key.encode())).address
        )
    assert len({backend.fault_domain(key) for key in keys}) == 3
    await backend.aclose()
    standalone = RedisBackend(url=redis_server.url)
    await standalone.get(keys[0])
    assert standalone.fault_domain(keys[0]) is None  # one breaker, as before
    await standalone.aclose()
