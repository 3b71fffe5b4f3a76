"""The key-value API of ``Cache``: both faces, namespaces, TTLs, batches, stats, URLs."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from cachekit import Cache, ConfigurationError
from cachekit.testing import FakeClock

SYNC_TWINS = {
    "aget": "get",
    "aset": "set",
    "adelete": "delete",
    "aget_many": "get_many",
    "aset_many": "set_many",
    "aclear": "clear",
    "aclose": "close",
    "async_get_cache": "get_cache",
    "async_add_cache": "add_cache",
}


def test_sync_and_async_faces_stay_in_step() -> None:
    for async_name, sync_name in SYNC_TWINS.items():
        a = inspect.signature(getattr(Cache, async_name))
        s = inspect.signature(getattr(Cache, sync_name))
        assert list(a.parameters) == list(s.parameters), (async_name, sync_name)
        assert inspect.iscoroutinefunction(getattr(Cache, async_name))
        assert not inspect.iscoroutinefunction(getattr(Cache, sync_name))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_api_round_trip(anyio_backend: str) -> None:
    async with Cache() as cache:
        assert await cache.aget("missing") is None
        await cache.aset("k", {"answer": [1, 2.5, "x", None, True]})
        assert await cache.aget("k") == {"answer": [1, 2.5, "x", None, True]}
        await cache.aset_many({"a": 1, "b": "two"})
        assert await cache.aget_many(["a", "nope", "b", "a"]) == [1, None, "two", 1]
        assert await cache.adelete("a") is True
        assert await cache.adelete("a") is False
        assert await cache.aclear() == 2


def test_sync_api_round_trip_in_plain_code() -> None:
    with Cache() as cache:
        cache.set("k", [1, 2])
        assert cache.get("k") == [1, 2]
        cache.set_many({"x": 1, "y": 2}, ttl=60)
        assert cache.get_many(["x", "y", "z"]) == [1, 2, None]
        assert cache.delete("x") is True
        assert cache.clear() == 2


def test_sync_api_inside_a_running_loop() -> None:
    cache = Cache()

    async def main() -> Any:
        cache.set("k", "v")  # a sync caller inside async code (e.g. a sync helper)
        return cache.get("k")

    assert asyncio.run(main()) == "v"


def test_namespaces_isolate_and_clear_only_their_own() -> None:
    backend_options: dict[str, Any] = {}
    team_a = Cache(namespace="team-a", **backend_options)
    team_a.set("k", "a")
    assert team_a.get("k") == "a"
    assert team_a.get("cachekit:v2:team-a:k") == "a"  # its own full key is fine
    # Another namespace's full key is refused before any I/O, for reads and writes.
    for op in (
        lambda: team_a.set("cachekit:v2:team-b:k", "b"),
        lambda: team_a.get("cachekit:v2:team-b:k"),
        lambda: team_a.delete("cachekit:v2:team-b:k"),
    ):
        with pytest.raises(ValueError, match="another namespace"):
            op()
    assert team_a.clear("team-b") == 0
    assert team_a.clear() == 1


def test_ttl_to_the_millisecond_with_an_injected_clock() -> None:
    clock = FakeClock()
    cache = Cache(clock=clock, ttl=10)
    cache.set("half", 1, ttl=0.5)
    cache.set("default", 2)
    clock.advance(0.499)
    assert cache.get("half") == 1
    clock.advance(0.002)
    assert cache.get("half") is None
    assert cache.get("default") == 2
    clock.advance(10)
    assert cache.get("default") is None


def test_ttl_zero_means_not_stored_and_removes_the_old_value() -> None:
    cache = Cache()
    cache.set("k", "old")
    cache.set("k", "new", ttl=0)
    assert cache.get("k") is None


def test_pydantic_values_and_rebuild() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        text: str
        tokens: int

    cache = Cache()
    cache.set("k", Answer(text="hi", tokens=3))
    assert cache.get("k") == {"text": "hi", "tokens": 3}
    rebuilt = cache.get("k", response_type=Answer)
    assert isinstance(rebuilt, Answer) and rebuilt.tokens == 3


@pytest.mark.parametrize("bad_key", ["", 3, None, b"bytes"])
def test_bad_keys(bad_key: Any) -> None:
    with pytest.raises(ConfigurationError, match="key"):
        Cache().get(bad_key)


def test_unserialisable_values_fail_before_io() -> None:
    cache = Cache()
    with pytest.raises(ValueError, match="JSON"):
        cache.set("k", {1, 2, object()})
    assert cache.get("k") is None


def test_stats_snapshot() -> None:
    cache = Cache()
    cache.set("k", 1)
    cache.get("k")
    cache.get("k")
    cache.get("nope")
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stores, stats.errors) == (2, 1, 1, 0)
    assert stats.hit_ratio == pytest.approx(2 / 3)
    doc = stats.as_dict()
    assert doc["latency"]["get"]["count"] == 3
    assert (
        0
        < doc["latency"]["get"]["p50"]
        <= doc["latency"]["get"]["p99"]
        <= doc["latency"]["get"]["max"]
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("local://", {"type": "local"}),
        ("local://?namespace=t1&ttl=2.5", {"type": "local", "namespace": "t1", "ttl": 2.5}),
        (
            "redis://h/0?shared_stats=true&stale_while_revalidate=30&stale_if_error=600",
            {
                "type": "redis",
                "url": "redis://h/0",
                "shared_stats": True,
                "stale_while_revalidate": 30.0,
                "stale_if_error": 600.0,
            },
        ),
        (
            "no-such-scheme://h/x?opt=1",
            {"type": "no-such-scheme", "url": "no-such-scheme://h/x?opt=1"},
        ),
    ],
)
def test_url_parsing(url: str, expected: dict[str, Any]) -> None:
    from cachekit._kernel._urls import options_from_url

    assert options_from_url(url) == expected


def test_query_options_for_plugin_parsers_coerce_and_rename() -> None:
    from cachekit import query_options

    url = "x://h/p?flag=on&off=No&n=3&f=0.5&name=abc&empty=&region=eu"
    assert query_options(url, {"region": "x_region_name"}) == {
        "flag": True,
        "off": False,
        "n": 3,
        "f": 0.5,
        "name": "abc",
        "empty": "",
        "x_region_name": "eu",
    }
    assert query_options("x://h/p") == {}


@pytest.mark.parametrize(
    "url", ["nothing", "s3://", "local://?ttl=soon", "local://?shared_stats=maybe"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"URL|bucket|ttl|shared_stats"):
        Cache.from_url(url)


def test_from_url_builds_a_cache() -> None:
    cache = Cache.from_url("local://?namespace=n1&max_size=5")
    assert cache.namespace == "n1" and cache.type == "local"
