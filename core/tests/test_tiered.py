"""``TieredBackend``: an L1 LocalBackend in front of an L2 (here another LocalBackend;
the Redis plugin's tests put a real redis-server behind it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
import pluggy
import pytest
from cachekit import (
    AsyncBackend,
    BackendUnavailableError,
    Cache,
    ConfigurationError,
    LocalBackend,
    TieredBackend,
)
from cachekit.hookspecs import RegisterBackend, hookimpl
from cachekit.testing import BackendContract, FakeClock

L1_TTL = 5.0


class TestTieredContract(BackendContract):
    """The whole contract holds for the tiered pair (both tiers share one fake clock)."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def make_backend(self, clock: FakeClock) -> Callable[[], AsyncBackend]:
        return lambda: TieredBackend(LocalBackend(clock=clock), LocalBackend(clock=clock), L1_TTL)

    async def advance(self, backend: AsyncBackend, seconds: float) -> None:
        assert isinstance(backend, TieredBackend)
        backend.l1._clock.advance(seconds)  # type: ignore[attr-defined]


class RecordingBackend(LocalBackend):
    """A real LocalBackend that records which batch reads reached it."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.gets: list[str] = []
        self.batches: list[list[str]] = []

    async def get(self, key: str) -> bytes | None:
        self.gets.append(key)
        return await super().get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self.batches.append(list(keys))
        return await super().get_many(keys)


class GatedBackend(LocalBackend):
    """A LocalBackend whose reads take the value, then wait for ``gate`` before
    answering: a slow network reply, so a write can land while a read is in flight."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.gate = anyio.Event()
        self.reading = anyio.Event()

    async def get(self, key: str) -> bytes | None:
        value = await super().get(key)
        self.reading.set()
        await self.gate.wait()
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values = await super().get_many(keys)
        self.reading.set()
        await self.gate.wait()
        return values


class FailingBackend(LocalBackend):
    """An L2 whose writes fail (the outage path; the happy path uses real tiers)."""

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise BackendUnavailableError("down")

    async def delete(self, key: str) -> bool:
        raise BackendUnavailableError("down")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def l2(clock: FakeClock) -> RecordingBackend:
    return RecordingBackend(clock)


@pytest.fixture
def tiered(clock: FakeClock, l2: RecordingBackend) -> TieredBackend:
    return TieredBackend(LocalBackend(clock=clock), l2, L1_TTL)


@pytest.mark.anyio
async def test_read_fills_l1_and_is_served_from_it(
    tiered: TieredBackend, l2: RecordingBackend
) -> None:
    await l2.set("k", b"v1", None)
    assert await tiered.get("k") == b"v1"
    assert await tiered.get("k") == b"v1"
    assert l2.gets == ["k"]  # the second read never reached the L2
    assert (tiered.l1_hits, tiered.l1_misses) == (1, 1)


@pytest.mark.anyio
async def test_change_elsewhere_is_seen_within_l1_ttl(
    tiered: TieredBackend, l2: RecordingBackend, clock: FakeClock
) -> None:
    await tiered.set("k", b"old", None)
    await l2.set("k", b"new", None)  # another process writes the shared store
    assert await tiered.get("k") == b"old"  # stale, but only for l1_ttl
    clock.advance(L1_TTL - 0.01)
    assert await tiered.get("k") == b"old"
    clock.advance(0.02)
    assert await tiered.get("k") == b"new"


@pytest.mark.anyio
async def test_writes_go_to_both_tiers(tiered: TieredBackend, l2: RecordingBackend) -> None:
    await tiered.set("k", b"v", None)
    await tiered.set_many({"a": b"1", "b": b"2"}, None)
    assert await l2.get("k") == b"v"
    assert await l2.get_many(["a", "b"]) == [b"1", b"2"]
    assert await tiered.l1.get_many(["k", "a", "b"]) == [b"v", b"1", b"2"]


@pytest.mark.anyio
async def test_l1_copy_never_outlives_a_shorter_entry_ttl(
    tiered: TieredBackend, l2: RecordingBackend, clock: FakeClock
) -> None:
    await tiered.set("short", b"v", 0.5)
    clock.advance(0.6)
    assert await tiered.l1.get("short") is None
    assert await tiered.get("short") is None


@pytest.mark.anyio
async def test_delete_invalidates_l1(tiered: TieredBackend, l2: RecordingBackend) -> None:
    await tiered.set("k", b"v", None)
    assert await tiered.delete("k") is True
    assert await tiered.l1.get("k") is None
    assert await tiered.get("k") is None
    assert await tiered.delete("k") is False


@pytest.mark.anyio
async def test_clear_invalidates_only_its_prefix_in_l1(
    tiered: TieredBackend, l2: RecordingBackend
) -> None:
    await tiered.set_many({"ns-a:1": b"1", "ns-a:2": b"2", "ns-b:1": b"3"}, None)
    assert await tiered.clear("ns-a:") == 2
    assert await tiered.l1.get_many(["ns-a:1", "ns-a:2", "ns-b:1"]) == [None, None, b"3"]
    assert await tiered.get_many(["ns-a:1", "ns-b:1"]) == [None, b"3"]


@pytest.mark.anyio
async def test_get_many_asks_l2_once_for_the_missing_keys_only(
    tiered: TieredBackend, l2: RecordingBackend
) -> None:
    await tiered.set("hot", b"h", None)  # in both tiers
    await l2.set_many({"cold-1": b"c1", "cold-2": b"c2"}, None)  # only in the L2
    keys = ["cold-2", "hot", "absent", "cold-1", "cold-2"]
    assert await tiered.get_many(keys) == [b"c2", b"h", None, b"c1", b"c2"]
    assert l2.batches == [["cold-2", "absent", "cold-1"]]  # one batch, de-duplicated
    assert await tiered.get_many(keys) == [b"c2", b"h", None, b"c1", b"c2"]
    assert l2.batches[1] == ["absent"]  # the hits were copied into the L1


@pytest.mark.anyio
@pytest.mark.parametrize("change", ["delete", "set", "clear"])
async def test_change_during_an_l2_read_never_fills_l1_with_the_old_value(
    clock: FakeClock, change: str
) -> None:
    l2 = GatedBackend(clock)
    tiered = TieredBackend(LocalBackend(clock=clock), l2, L1_TTL)
    await l2.set("k", b"old", None)
    results: list[bytes | None] = []

    async def read() -> None:
        results.append(await tiered.get("k"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await l2.reading.wait()  # the read holds b"old" and waits for its reply
        if change == "delete":
            await tiered.delete("k")
        elif change == "set":
            await tiered.set("k", b"new", None)
        else:
            await tiered.clear("k")
        l2.gate.set()
    assert results == [b"old"]  # it overlapped the change: either answer is fair
    expected = b"new" if change == "set" else None
    assert await tiered.l1.get("k") == expected  # but the L1 kept no old copy
    assert await tiered.get("k") == expected


@pytest.mark.anyio
async def test_batch_read_overlapping_a_delete_does_not_fill_that_key(clock: FakeClock) -> None:
    l2 = GatedBackend(clock)
    tiered = TieredBackend(LocalBackend(clock=clock), l2, L1_TTL)
    await l2.set_many({"a": b"1", "b": b"2"}, None)
    async with anyio.create_task_group() as tg:
        tg.start_soon(tiered.get_many, ["a", "b"])
        await l2.reading.wait()
        await tiered.delete("a")
        l2.gate.set()
    assert await tiered.l1.get_many(["a", "b"]) == [None, b"2"]


@pytest.mark.anyio
async def test_failed_l2_write_leaves_no_l1_copy(clock: FakeClock) -> None:
    l2 = FailingBackend(clock=clock)
    tiered = TieredBackend(LocalBackend(clock=clock), l2, L1_TTL)
    await tiered.l1.set("k", b"cached-before", None)
    with pytest.raises(BackendUnavailableError):
        await tiered.set("k", b"v", None)
    assert await tiered.l1.get("k") is None
    await tiered.l1.set("k", b"cached-before", None)
    with pytest.raises(BackendUnavailableError):
        await tiered.delete("k")
    assert await tiered.l1.get("k") is None


@pytest.mark.anyio
async def test_aclose_closes_both_tiers_and_is_idempotent(
    tiered: TieredBackend, l2: RecordingBackend
) -> None:
    await tiered.set("k", b"v", None)
    await tiered.aclose()
    await tiered.aclose()
    assert len(tiered.l1) == 0
    assert len(l2) == 0


def test_default_ttl_comes_from_l2() -> None:
    tiered = TieredBackend(LocalBackend(), LocalBackend(default_in_memory_ttl=30.0), 1.0)
    assert tiered.default_ttl == 30.0


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "5", None])
def test_bad_l1_ttl_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="l1_ttl"):
        TieredBackend(LocalBackend(), LocalBackend(), bad)  # type: ignore[arg-type]


def test_l1_must_be_a_local_backend() -> None:
    with pytest.raises(ConfigurationError, match="l1"):
        TieredBackend(object(), LocalBackend(), 1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="l2"):
        TieredBackend(LocalBackend(), object(), 1.0)  # type: ignore[arg-type]


class _TieredPlugin:
    """Registers a tiered backend type, as a plugin could today (before the core wires
    ``Cache(l1_ttl=...)``)."""

    def __init__(self, l2: LocalBackend) -> None:
        self.l2 = l2

    @hookimpl
    def cachekit_register_backends(self, register: RegisterBackend) -> None:
        register("tiered-test", lambda: TieredBackend(LocalBackend(), self.l2, 60.0))


@pytest.mark.anyio
async def test_cache_in_front_of_a_tiered_backend(pm: pluggy.PluginManager) -> None:
    shared = LocalBackend()
    pm.register(_TieredPlugin(shared))
    async with Cache(type="tiered-test", plugins=pm) as first:
        second = Cache(type="tiered-test", plugins=pm)  # another process, same L2
        await first.aset("q", {"answer": 1})
        assert await second.aget("q") == {"answer": 1}  # through the shared L2
        await first.aset("q", {"answer": 2})
        assert await second.aget("q") == {"answer": 1}  # second's L1 copy: stale
        assert await first.aget("q") == {"answer": 2}  # own writes are seen at once
        assert await first.adelete("q") is True
        assert await first.aget("q") is None
        await second.aclose()
