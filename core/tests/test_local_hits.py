"""The fast key-value hit on the ``local`` backend (``cachekit._engine._kv_hits``): it
serves fresh hits without the engine's read path, and nothing else changes — expiry
on the injected clock, a change to the key drops the note kept beside the value,
every hit is a fresh copy, counting is exactly the read path's, encryption is checked
on every hit, and observers (registered at any time) are still told."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pluggy
import pytest
from cachekit import BackendError, Cache, LocalBackend, hookimpl
from cachekit._engine._kv_hits import NOT_NOW, HitNote, kv_hit_now
from cachekit.hookspecs import RegisterBackend
from cachekit.testing import FakeClock

from ._support import Provider, Recorder

pytestmark = pytest.mark.anyio

VALUE = {"id": "v1", "content": "a cached answer " * 40, "tokens": [1, 2, 3]}
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "seed": 7}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Apart:
    """``local-apart``: a plain ``LocalBackend`` on its own (real) clock, so that only
    the entry's own expiry — checked by the fast path — ends a hit; ``shared``: every
    cache of that type uses one store."""

    def __init__(self) -> None:
        self.store = LocalBackend()

    @hookimpl
    def cachekit_register_backends(self, register: RegisterBackend) -> None:
        register("local-apart", lambda: LocalBackend())
        register("local-shared", lambda: self.store)


@pytest.fixture
def plugins(pm: pluggy.PluginManager) -> pluggy.PluginManager:
    pm.register(_Apart())
    return pm


def without_read_path(cache: Cache) -> None:
    """Make the engine's read path fail: whatever still answers is the fast path."""

    async def read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the read path was taken")

    cache._engine.read = read  # type: ignore[method-assign]


def read_path_only(cache: Cache) -> Cache:
    """The same cache with the fast path off (the engine has no note store)."""
    cache._engine.note_store = None
    return cache


def note_of(cache: Cache, key: str) -> object:
    backend = cache.backend
    assert isinstance(backend, LocalBackend)
    return backend._notes.get(cache._key(key))


def counts(cache: Cache) -> dict[str, Any]:
    """Everything ``stats()`` counts: latency windows by their size only, and no
    provider latency saved (measured, so never the same twice)."""
    stats = cache.stats().as_dict()
    stats["latency"] = {op: window["count"] for op, window in stats["latency"].items()}
    for table in (stats, *(t for k in stats if k.startswith("by_") for t in stats[k].values())):
        table.pop("latency_saved_s")
    return stats


@pytest.fixture(params=["async", "sync"])
def get(request: pytest.FixtureRequest) -> Callable[[Cache, str], Awaitable[Any]]:
    """``cache.aget`` or its sync twin, as one awaitable call."""

    async def via(cache: Cache, key: str) -> Any:
        if request.param == "async":
            return await cache.aget(key)
        return cache.get(key)

    return via


async def test_a_fresh_hit_is_served_without_the_read_path(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    cache = Cache(type="local", clock=clock, plugins=plugins)
    await cache.aset("k", VALUE)
    without_read_path(cache)
    assert await get(cache, "k") == VALUE
    assert isinstance(note_of(cache, "k"), HitNote)
    assert await get(cache, "k") == VALUE  # from the note
    assert cache.stats().hits == 2


async def test_misses_and_typed_reads_take_the_read_path(
    clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    cache = Cache(type="local", clock=clock, plugins=plugins)
    assert kv_hit_now(cache._engine, cache._key("absent")) is NOT_NOW
    assert await cache.aget("absent") is None
    assert cache.get("absent") is None
    assert cache.stats().misses == 2


async def test_every_hit_is_a_fresh_copy(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    cache = Cache(type="local", clock=clock, plugins=plugins)
    await cache.aset("k", VALUE)
    first = await get(cache, "k")
    first["content"] = "changed by the caller"
    first["tokens"].append(4)
    second = await get(cache, "k")
    assert second == VALUE
    assert second is not first and second["tokens"] is not first["tokens"]


@pytest.mark.parametrize("backend", ["local", "local-apart"])
async def test_expiry_follows_the_injected_clock(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager, backend: str
) -> None:
    cache = Cache(type=backend, clock=clock, plugins=plugins)
    await cache.aset("k", VALUE, ttl=10)
    assert await get(cache, "k") == VALUE
    clock.advance(9.999)
    assert await get(cache, "k") == VALUE
    clock.advance(0.001)
    assert await get(cache, "k") is None
    assert (cache.stats().hits, cache.stats().misses) == (2, 1)


async def test_a_change_to_the_key_drops_its_note(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    cache = Cache(type="local", clock=clock, plugins=plugins, max_size=2)
    await cache.aset("k", VALUE)
    assert await get(cache, "k") == VALUE
    await cache.aset("k", {"v": 2})
    assert note_of(cache, "k") is None
    assert await get(cache, "k") == {"v": 2}
    await cache.aset("k", {"v": 3}, ttl=0)  # ttl=0 removes
    assert await get(cache, "k") is None
    await cache.aset("k", VALUE)
    assert await get(cache, "k") == VALUE
    assert await cache.adelete("k")
    assert await get(cache, "k") is None
    await cache.aset("k", VALUE)
    assert await get(cache, "k") == VALUE
    assert await cache.aclear() == 1
    assert await get(cache, "k") is None
    await cache.aset_many({"a": 1, "b": 2})
    assert await get(cache, "a") == 1
    await cache.aset("c", 3)  # evicts "b", the least recently used
    assert await get(cache, "b") is None
    assert [await get(cache, k) for k in ("a", "c")] == [1, 3]


async def test_counting_is_the_read_paths(clock: FakeClock, plugins: pluggy.PluginManager) -> None:
    provider = Provider()

    async def workload(cache: Cache) -> dict[str, Any]:
        await cache.aset("k", VALUE, ttl=30)
        await cache.aset("other", [1, 2])
        await cache.cached("acompletion")(provider.acall)(**REQ)  # an entry with savings
        for _ in range(3):
            assert await cache.aget("k") == VALUE
            assert cache.get("other") == [1, 2]
        assert await cache.aget(cache.get_cache_key(**REQ)) is not None
        assert await cache.aget("absent") is None
        clock.advance(30)
        assert cache.get("k") is None
        return counts(cache)

    fast = await workload(Cache(type="local", clock=clock, plugins=plugins, namespace="n"))
    slow = await workload(
        read_path_only(Cache(type="local", clock=clock, plugins=plugins, namespace="n"))
    )
    assert fast == slow
    assert (fast["hits"], fast["misses"], fast["latency"]["get"]) == (7, 3, 10)
    assert fast["tokens_saved"] > 0


async def test_an_entry_with_savings_is_counted_by_the_read_path(
    clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    cache = Cache(type="local", clock=clock, plugins=plugins)
    await cache.cached("acompletion")(Provider().acall)(**REQ)
    key = cache.get_cache_key(**REQ)
    assert kv_hit_now(cache._engine, key) is NOT_NOW
    assert await cache.aget(key) is not None
    assert cache.stats().tokens_saved > 0


async def test_a_corrupt_entry_is_a_miss_and_an_error(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    recorder = Recorder()
    cache = Cache(type="local", clock=clock, plugins=plugins)
    await cache.backend.set(cache._key("k"), b"not an entry", None)
    assert await get(cache, "k") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.errors) == (0, 1, 1)
    cache.plugins.register(recorder)
    try:
        assert await get(cache, "k") is None
    finally:
        cache.plugins.unregister(recorder)
    assert recorder.kinds == ["error", "miss"]


async def test_encrypted_hits_open_the_stored_bytes_every_time(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    cache = Cache(type="local", clock=clock, plugins=plugins, encryption_key=KEY_A)
    await cache.aset("k", VALUE, ttl=60)
    without_read_path(cache)
    assert await get(cache, "k") == VALUE
    assert await get(cache, "k") == VALUE
    note = note_of(cache, "k")
    assert isinstance(note, HitNote)
    assert not note.payload  # no plaintext kept beside the ciphertext
    assert b"a cached answer" not in note.stored
    clock.advance(60)
    assert kv_hit_now(cache._engine, cache._key("k")) is NOT_NOW


async def test_encrypted_hits_during_a_rotation_or_a_migration(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    old = Cache(type="local-shared", clock=clock, plugins=plugins, encryption_key=KEY_A)
    plain = Cache(type="local-shared", clock=clock, plugins=plugins, namespace="p")
    await old.aset("k", VALUE)
    await plain.aset("k", VALUE)
    rotated = Cache(
        type="local-shared", clock=clock, plugins=plugins, encryption_keys=[KEY_B, KEY_A]
    )
    migrating = Cache(
        type="local-shared",
        clock=clock,
        plugins=plugins,
        namespace="p",
        encryption_key=KEY_B,
        allow_plaintext_reads=True,
    )
    for cache in (rotated, migrating):
        without_read_path(cache)
        assert [await get(cache, "k"), await get(cache, "k")] == [VALUE, VALUE]
        assert cache.stats().hits == 2


async def test_encrypted_entries_moved_or_under_another_key_are_errors(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    a = Cache(type="local-shared", clock=clock, plugins=plugins, encryption_key=KEY_A)
    b = Cache(type="local-shared", clock=clock, plugins=plugins, encryption_key=KEY_B)
    await a.aset("k", VALUE)
    assert await get(a, "k") == VALUE  # a's note on the stored bytes
    assert await get(b, "k") is None  # b's key does not open them: no use of a's note
    assert (b.stats().misses, b.stats().errors) == (1, 1)
    assert await get(a, "k") == VALUE
    stored = await a.backend.get(a._key("k"))
    assert stored is not None
    await a.backend.set(a._key("moved"), stored, None)  # bound to another storage key
    assert await get(a, "moved") is None
    await a.backend.set(a._key("short"), stored[:12], None)  # truncated inside its nonce
    assert await get(a, "short") is None
    assert (a.stats().hits, a.stats().errors) == (2, 2)


async def test_observers_are_told_of_every_hit(
    get: Any, clock: FakeClock, plugins: pluggy.PluginManager
) -> None:
    cache = Cache(type="local", clock=clock, plugins=plugins)
    await cache.aset("k", VALUE)
    assert await get(cache, "k") == VALUE  # fast, its note taken
    recorder = Recorder()
    cache.plugins.register(recorder)
    try:
        assert await get(cache, "k") == VALUE
        assert recorder.kinds == ["hit"]
        assert recorder.of("hit")[0].key == cache._key("k")
    finally:
        cache.plugins.unregister(recorder)
    assert await get(cache, "k") == VALUE
    assert recorder.kinds == ["hit"]
    assert cache.stats().hits == 3


async def test_a_subclass_of_the_local_backend_keeps_its_own_reads(
    clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    class Counting(LocalBackend):
        reads = 0

        async def get(self, key: str) -> bytes | None:
            Counting.reads += 1
            return await super().get(key)

    class Plugin:
        @hookimpl
        def cachekit_register_backends(self, register: RegisterBackend) -> None:
            register("counting", Counting)

    pm.register(Plugin())
    cache = Cache(type="counting", clock=clock, plugins=pm)
    await cache.aset("k", VALUE)
    assert await cache.aget("k") == VALUE
    assert cache.get("k") == VALUE
    assert Counting.reads == 2


async def test_a_failing_read_is_a_backend_error_as_on_the_read_path(
    get: Any, plugins: pluggy.PluginManager
) -> None:
    class Broken(FakeClock):
        broken = False

        def __call__(self) -> float:
            if self.broken:
                raise RuntimeError("no time")
            return self.now

    clock = Broken()
    cache = Cache(type="local", clock=clock, plugins=plugins)
    await cache.aset("k", VALUE, ttl=60)
    assert await get(cache, "k") == VALUE
    clock.broken = True
    with pytest.raises(BackendError, match="local get failed: RuntimeError: no time"):
        await get(cache, "k")
