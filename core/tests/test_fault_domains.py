"""Fault domains: one circuit breaker per independently failing part of a store.

A backend that names the part serving a key (``AsyncBackend.fault_domain``, a Redis
Cluster's node) gets one breaker per part: a dead part stops caching only on its own
keys, its breaker probes at least every 0.5 s, and a key that moves to another part
(a failover) is under that part's closed breaker at once. The sharded backend here
is a fake beside the real-cluster test (plugins/redis/tests/test_cluster_failover.py);
it injects a dead shard. Breaker clocks are injected: nothing waits.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import pytest
from cachekit import AsyncBackend, BackendUnavailableError, Cache, LocalBackend, hookimpl
from cachekit._engine._breaker import DOMAIN_MAX_COOLDOWN, CircuitBreaker, DomainBreakers
from cachekit.testing import FakeClock

from ._support import Provider, chat_response, plugin_manager

pytestmark = pytest.mark.anyio

SHARDS = ("a", "b")


class ShardedBackend(AsyncBackend):
    """Two in-process shards; a key's shard is a hash of it (or an override, to model a
    failover moving a key). ``dead`` shards raise ``BackendUnavailableError`` on any
    operation touching them, as the redis plugin does for a killed node; ``calls`` counts
    operations per shard."""

    def __init__(self) -> None:
        self.shards = {name: LocalBackend() for name in SHARDS}
        self.dead: set[str] = set()
        self.moved: dict[str, str] = {}
        self.calls: Counter[str] = Counter()

    def shard_of(self, key: str) -> str:
        return self.moved.get(key) or SHARDS[zlib.crc32(key.encode()) % len(SHARDS)]

    def fault_domain(self, key: str) -> Hashable | None:
        return f"node-{self.shard_of(key)}"

    def _shard(self, key: str) -> LocalBackend:
        name = self.shard_of(key)
        self.calls[name] += 1
        if name in self.dead:
            raise BackendUnavailableError(f"shard {name} is down")
        return self.shards[name]

    async def get(self, key: str) -> bytes | None:
        return await self._shard(key).get(key)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._shard(key).set(key, value, ttl)

    async def delete(self, key: str) -> bool:
        return await self._shard(key).delete(key)

    async def clear(self, prefix: str) -> int:
        return sum([await shard.clear(prefix) for shard in self.shards.values()])

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        shards = {self.shard_of(key) for key in keys}
        for name in shards:  # one round trip per shard, like MGET on a Cluster
            self.calls[name] += 1
        if shards & self.dead:
            raise BackendUnavailableError("a shard of the batch is down")
        return [await self.shards[self.shard_of(key)].get(key) for key in keys]

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        for key, value in mapping.items():
            await self.set(key, value, ttl)


class BrokenDomainsBackend(ShardedBackend):
    """A backend bug: naming the domain raises (or returns something unhashable)."""

    def fault_domain(self, key: str) -> Hashable | None:
        if key.endswith("1"):
            return [key]  # type: ignore[return-value]
        raise RuntimeError("no topology")


class ShardedPlugin:
    @hookimpl
    def cachekit_register_backends(
        self, register: Callable[[str, Callable[..., Any]], None]
    ) -> None:
        register("sharded", ShardedBackend)
        register("broken-domains", BrokenDomainsBackend)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> Cache:
    return Cache(
        type="sharded",
        plugins=plugin_manager(ShardedPlugin()),
        breaker={"threshold": 3, "cooldown": 5, "clock": clock},
    )


def sharded(cache: Cache) -> ShardedBackend:
    backend = cache.backend
    assert isinstance(backend, ShardedBackend)
    return backend


def keys_on(backend: ShardedBackend, shard: str, n: int) -> list[str]:
    """``n`` cache keys (as the key-value API is given them) that live on ``shard``."""
    found = [f"k{i}" for i in range(200) if backend.shard_of(f"cachekit:v2:default:k{i}") == shard]
    return found[:n]


def request(i: int) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}


def requests_on(cache: Cache, shard: str, n: int) -> list[dict[str, Any]]:
    backend = sharded(cache)
    out = [
        r for r in map(request, range(200)) if backend.shard_of(cache.get_cache_key(**r)) == shard
    ]
    return out[:n]


async def test_a_dead_shard_opens_only_its_own_breaker(cache: Cache) -> None:
    backend = sharded(cache)
    dead, alive = keys_on(backend, "a", 4), keys_on(backend, "b", 4)
    for key in alive:
        await cache.aset(key, key)
    backend.dead.add("a")
    for key in dead[:3]:  # three failures open shard a's breaker
        with pytest.raises(BackendUnavailableError):
            await cache.aget(key)
    calls = backend.calls["a"]
    with pytest.raises(BackendUnavailableError, match="circuit open"):
        await cache.aget(dead[3])
    assert backend.calls["a"] == calls  # refused without I/O
    for key in alive:  # shard b's keys still read and write through
        assert await cache.aget(key) == key
        await cache.aset(key, key.upper())
    assert [await cache.aget(key) for key in alive] == [key.upper() for key in alive]
    assert not cache._engine.breaker.is_open  # the backend-wide breaker never saw a failure


async def test_wrapped_calls_on_a_dead_shard_fail_open_and_warn_once(
    cache: Cache, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    provider = Provider()
    acompletion = cache.cached("acompletion")(provider.acall)
    healthy, broken = requests_on(cache, "b", 1)[0], requests_on(cache, "a", 1)[0]
    assert await acompletion(**healthy) == chat_response("gpt-4o-mini", 1)
    sharded(cache).dead.add("a")
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        for n in range(2, 7):
            assert await acompletion(**broken) == chat_response("gpt-4o-mini", n)  # uncached
            assert await acompletion(**healthy) == chat_response("gpt-4o-mini", 1)  # a hit
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0].getMessage()
    assert provider.count == 6


async def test_a_domain_breaker_probes_every_half_second_and_recovers(
    cache: Cache, clock: FakeClock
) -> None:
    backend = sharded(cache)
    key = keys_on(backend, "a", 1)[0]
    backend.dead.add("a")
    for _ in range(3):
        with pytest.raises(BackendUnavailableError):
            await cache.aget(key)
    for _ in range(4):  # failed probes do not push the next one past 0.5 s
        clock.advance(DOMAIN_MAX_COOLDOWN - 0.01)
        calls = backend.calls["a"]
        with pytest.raises(BackendUnavailableError, match="circuit open"):
            await cache.aget(key)
        clock.advance(0.01)
        with pytest.raises(BackendUnavailableError):
            await cache.aget(key)  # the probe
        assert backend.calls["a"] == calls + 1
    backend.dead.clear()
    clock.advance(DOMAIN_MAX_COOLDOWN)
    await cache.aset(key, "back")  # the probe succeeds: closed
    assert await cache.aget(key) == "back"


async def test_a_key_moved_to_a_healthy_domain_caches_at_once(cache: Cache) -> None:
    backend = sharded(cache)
    key = keys_on(backend, "a", 1)[0]
    full = f"cachekit:v2:default:{key}"
    backend.dead.add("a")
    for _ in range(4):
        with pytest.raises(BackendUnavailableError):
            await cache.aget(key)
    backend.moved[full] = "b"  # a failover: the topology now maps the key elsewhere
    await cache.aset(key, "moved")  # no cooldown to wait out: b's breaker is closed
    assert await cache.aget(key) == "moved"


async def test_a_batch_is_split_by_domain_and_only_the_dead_part_counts(cache: Cache) -> None:
    backend = sharded(cache)
    dead, alive = keys_on(backend, "a", 3), keys_on(backend, "b", 3)
    await cache.aset_many({key: key for key in dead + alive})
    assert await cache.aget_many(dead + alive) == dead + alive  # one sub-batch per shard
    backend.dead.add("a")
    for _ in range(3):
        with pytest.raises(BackendUnavailableError):
            await cache.aget_many(dead + alive)  # the live part ran, the batch failed
    breakers = cache._engine.chokepoint.breakers
    assert breakers is not None
    assert breakers.get("node-a").is_open
    assert not breakers.get("node-b").is_open  # b answered every sub-batch
    calls = backend.calls["a"]
    with pytest.raises(BackendUnavailableError, match="circuit open"):
        await cache.aget_many(dead + alive)
    assert backend.calls["a"] == calls
    assert await cache.aget_many(alive) == alive
    await cache.aset_many({key: "new" for key in alive})
    assert await cache.aget_many(alive) == ["new"] * 3


async def test_a_raising_fault_domain_falls_back_to_the_backend_breaker(clock: FakeClock) -> None:
    cache = Cache(type="broken-domains", plugins=plugin_manager(ShardedPlugin()))
    await cache.aset_many({"k1": 1, "k2": 2})
    assert await cache.aget_many(["k1", "k2"]) == [1, 2]
    assert await cache.aget("k1") == 1
    assert cache._engine.chokepoint.breakers is not None
    assert len(cache._engine.chokepoint.breakers) == 0


async def test_backends_without_domains_keep_one_breaker(clock: FakeClock) -> None:
    cache = Cache(type="faulty", plugins=plugin_manager(), breaker={"clock": clock})
    assert cache._engine.chokepoint.breakers is None


def test_domain_breakers_are_bounded_and_keep_open_ones(clock: FakeClock) -> None:
    template = CircuitBreaker(threshold=1, cooldown=5, max_cooldown=30, clock=clock)
    breakers = DomainBreakers(template, limit=4)
    breakers.get("open").failure()
    for i in range(10):
        breakers.get(f"node-{i}")
        assert len(breakers) <= 4
    assert breakers.get("open").blocked()  # state kept: idle breakers went first
    assert breakers.get("open").max_cooldown == DOMAIN_MAX_COOLDOWN
    assert template.max_cooldown == 30  # the backend-wide breaker keeps its settings
