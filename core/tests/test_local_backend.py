"""The local backend beyond the contract: LRU by count and bytes, item limit, expiry sweep."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from cachekit import Cache, ConfigurationError, LocalBackend
from cachekit.testing import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_lru_by_count_evicts_least_recently_used() -> None:
    b = LocalBackend(max_size=3)
    for k in "abc":
        await b.set(k, k.encode(), None)
    assert await b.get("a") == b"a"  # touch a: b is now the oldest
    await b.set("d", b"d", None)
    assert await b.get("b") is None
    assert [await b.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    assert len(b) == 3


async def test_lru_by_bytes() -> None:
    b = LocalBackend(max_size_bytes=10)
    await b.set("a", b"12345", None)
    await b.set("b", b"12345", None)
    assert b.size_bytes == 10
    await b.set("c", b"123", None)
    assert await b.get("a") is None
    assert await b.get("b") == b"12345" and await b.get("c") == b"123"
    assert b.size_bytes == 8


async def test_oversized_item_is_not_stored_and_drops_the_old_value() -> None:
    b = LocalBackend(max_item_size_bytes=4)
    await b.set("k", b"old", None)
    await b.set("k", b"too large", None)
    assert await b.get("k") is None  # never serve the stale value
    assert b.size_bytes == 0


async def test_expiry_is_lazy_and_swept_without_reads() -> None:
    clock = FakeClock()
    b = LocalBackend(clock=clock, sweep_interval=1.0)
    for i in range(100):
        await b.set(f"k{i}", b"v", 0.5)
    await b.set("keep", b"v", None)
    clock.advance(0.5)
    assert await b.get("k0") is None  # lazy: exactly at the deadline it is gone
    clock.advance(1.0)
    await b.set("trigger", b"v", None)  # a write past the sweep interval sweeps
    assert len(b) == 2  # keep + trigger; nobody read k1..k99
    assert b.size_bytes == 2


async def test_millisecond_ttl() -> None:
    clock = FakeClock()
    b = LocalBackend(clock=clock)
    await b.set("k", b"v", 0.001)
    clock.advance(0.0009)
    assert await b.get("k") == b"v"
    clock.advance(0.00011)
    assert await b.get("k") is None


@pytest.mark.parametrize("option", ["max_size", "max_size_bytes", "max_item_size_bytes"])
def test_bad_limits_raise(option: str) -> None:
    with pytest.raises(ConfigurationError, match=option):
        LocalBackend(**{option: -1})
    with pytest.raises(ConfigurationError, match=option):
        Cache(**{option: "10"})


def test_unknown_option_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="local"):
        Cache(host="localhost")


def test_hit_returns_a_fresh_object() -> None:
    cache = Cache()
    cache.set("k", {"items": [1, 2]})
    first = cache.get("k")
    first["items"].append(3)
    assert cache.get("k") == {"items": [1, 2]}


def test_two_local_caches_do_not_share() -> None:
    a, b = Cache(), Cache()
    a.set("k", 1)
    assert b.get("k") is None


def test_default_in_memory_ttl_applies() -> None:
    clock = FakeClock()
    cache = Cache(default_in_memory_ttl=2.0, clock=clock)
    cache.set("k", 1)
    clock.advance(1.999)
    assert cache.get("k") == 1
    clock.advance(0.001)
    assert cache.get("k") is None


def test_threads_using_the_sync_face() -> None:
    cache = Cache(max_size=50)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(300):
                cache.set(f"{n}-{i}", i)
                value = cache.get(f"{n}-{i}")
                assert value in (i, None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    backend: Any = cache.backend
    assert len(backend) == 50
