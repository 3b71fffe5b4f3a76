"""The ``redis`` backend against a real redis-server: round trips, server-side TTLs,
SCAN-based clear, credentials, discovery through the entry point, several loops."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pluggy
import pytest
from cachekit import BackendUnavailableError, Cache, backend_registry
from cachekit_redis import RedisBackend
from cachekit_redis.testing import RedisServer

API_KEY = "sk-live-THIS-MUST-NEVER-BE-STORED"


@pytest.fixture
def prefix() -> str:
    return f"cachekit:v2:t-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def backend(redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
    instance = RedisBackend(url=redis_server.url)
    yield instance
    await instance.aclose()


# -- round trips -----------------------------------------------------------------
@pytest.mark.anyio
async def test_a_hit_is_one_get(
    backend: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    await backend.set(prefix + "k", b"v", None)
    gets, others = redis_server.command_calls("get"), redis_server.command_calls("mget")
    assert await backend.get(prefix + "k") == b"v"
    assert redis_server.command_calls("get") == gets + 1
    assert redis_server.command_calls("mget") == others


@pytest.mark.anyio
async def test_get_many_is_one_mget(
    backend: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    keys = [f"{prefix}item-{i}" for i in range(100)]
    await backend.set_many({k: k.encode() for k in keys[::2]}, None)
    mgets, gets = redis_server.command_calls("mget"), redis_server.command_calls("get")
    values = await backend.get_many(keys)
    assert values == [k.encode() if i % 2 == 0 else None for i, k in enumerate(keys)]
    assert redis_server.command_calls("mget") == mgets + 1
    assert redis_server.command_calls("get") == gets


@pytest.mark.anyio
async def test_set_many_sets_each_key_with_its_expiry(
    backend: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    mapping = {f"{prefix}e{i}": b"x" for i in range(20)}
    sets = redis_server.command_calls("set")
    await backend.set_many(mapping, 30.0)
    assert redis_server.command_calls("set") == sets + 20
    for key in mapping:
        assert 29_000 < redis_server.command("PTTL", key) <= 30_000


# -- TTLs on the server ------------------------------------------------------------------
@pytest.mark.anyio
async def test_ttl_is_milliseconds_on_the_server(
    backend: RedisBackend, redis_server: RedisServer, prefix: str
) -> None:
    await backend.set(prefix + "half", b"v", 0.5)
    await backend.set(prefix + "odd", b"v", 1.234)
    await backend.set(prefix + "none", b"v", None)
    assert 0 < redis_server.command("PTTL", prefix + "half") <= 500
    assert 1_000 < redis_server.command("PTTL", prefix + "odd") <= 1_234
    assert redis_server.command("PTTL", prefix + "none") == -1  # no forced default TTL


@pytest.mark.anyio
async def test_cache_ttls_reach_the_server(redis_server: RedisServer) -> None:
    namespace = f"ttl-{uuid.uuid4().hex[:8]}"
    async with Cache.from_url(f"{redis_server.url}?namespace={namespace}") as cache:
        await cache.aset("half", 1, ttl=0.5)
        await cache.aset("plain", 1)
        request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        await cache.async_add_cache({"answer": 1}, cache={"ttl": 0.5}, **request)
        key = cache.get_cache_key(**request)
        assert 0 < redis_server.command("PTTL", f"cachekit:v2:{namespace}:half") <= 500
        assert redis_server.command("PTTL", f"cachekit:v2:{namespace}:plain") == -1
        assert 0 < redis_server.command("PTTL", key) <= 500
        await cache.aclear()


@pytest.mark.anyio
async def test_default_in_redis_ttl_applies_when_nothing_else_does(
    redis_server: RedisServer,
) -> None:
    namespace = f"dttl-{uuid.uuid4().hex[:8]}"
    async with Cache(
        type="redis",
        host=redis_server.host,
        port=redis_server.port,
        namespace=namespace,
        default_in_redis_ttl=60,
    ) as cache:
        await cache.aset("k", "v")
        await cache.aset("short", "v", ttl=2)
        assert 59_000 < redis_server.command("PTTL", f"cachekit:v2:{namespace}:k") <= 60_000
        assert 0 < redis_server.command("PTTL", f"cachekit:v2:{namespace}:short") <= 2_000
        await cache.aclear()


# -- clear ---------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_clear_scans_and_unlinks_in_batches_never_keys(
    redis_server: RedisServer, prefix: str
) -> None:
    backend = RedisBackend(url=redis_server.url, scan_count=10)
    try:
        await backend.set_many({f"{prefix}{i}": b"x" for i in range(35)}, None)
        await backend.set(prefix[:-1] + "-other:0", b"keep", None)
        keys, scans, unlinks = (
            redis_server.command_calls("keys"),
            redis_server.command_calls("scan"),
            redis_server.command_calls("unlink"),
        )
        assert await backend.clear(prefix) == 35
        assert redis_server.command_calls("keys") == keys
        assert redis_server.command_calls("scan") > scans
        assert redis_server.command_calls("unlink") - unlinks == 4  # 10 + 10 + 10 + 5
        assert await backend.get(prefix[:-1] + "-other:0") == b"keep"
        await backend.delete(prefix[:-1] + "-other:0")
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_clear_prefix_with_glob_characters_is_literal(
    backend: RedisBackend, prefix: str
) -> None:
    odd = prefix + "we*ird?[ab]\\:"
    await backend.set(odd + "1", b"1", None)
    await backend.set(prefix + "weXirdY[ab]\\:1", b"2", None)  # would match the raw glob
    await backend.set(prefix + "we*ird?a\\:1", b"3", None)
    assert await backend.clear(odd) == 1
    assert await backend.get(prefix + "weXirdY[ab]\\:1") == b"2"
    assert await backend.get(prefix + "we*ird?a\\:1") == b"3"
    await backend.clear(prefix)


# -- credentials ---------------------------------------------------------------------------
@pytest.mark.anyio
async def test_stored_bytes_hold_no_credentials(
    redis_server_with_password: RedisServer,
) -> None:
    server = redis_server_with_password
    assert server.password is not None
    namespace = f"cred-{uuid.uuid4().hex[:8]}"
    async with Cache.from_url(f"{server.url}?namespace={namespace}") as cache:
        request = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hello"}],
            "api_key": API_KEY,
            "extra_headers": {"Authorization": f"Bearer {API_KEY}"},
        }
        await cache.async_add_cache({"choices": [{"text": "hi"}]}, **request)
        assert await cache.async_get_cache(**request) == {"choices": [{"text": "hi"}]}
        await cache.aset("kv", {"note": "plain value"})
        keys = server.command("KEYS", f"cachekit:v2:{namespace}:*")  # test-side inspection
        assert len(keys) == 2
        for key in keys:
            value = server.command("GET", key)
            for secret in (server.password, API_KEY):
                assert secret.encode() not in key
                assert secret.encode() not in value
        await cache.aclear()


@pytest.mark.anyio
async def test_wrong_password_is_unavailable_and_not_echoed(
    redis_server_with_password: RedisServer,
) -> None:
    server = redis_server_with_password
    backend = RedisBackend(host=server.host, port=server.port, password="wrong-Pa55word")
    try:
        with pytest.raises(BackendUnavailableError) as info:
            await backend.get("k")
        assert "wrong-Pa55word" not in str(info.value)
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_username_and_password_via_acl(redis_server_with_password: RedisServer) -> None:
    server = redis_server_with_password
    server.command("ACL", "SETUSER", "cache-user", "on", ">user-pw", "~cachekit:*", "+@all")
    backend = RedisBackend(url=f"redis://cache-user:user-pw@{server.host}:{server.port}/0")
    try:
        await backend.set("cachekit:v2:acl:k", b"v", 5.0)
        assert await backend.get("cachekit:v2:acl:k") == b"v"
        assert await backend.delete("cachekit:v2:acl:k") is True
    finally:
        await backend.aclose()
        server.command("ACL", "DELUSER", "cache-user")


# -- connection options --------------------------------------------------------------------
@pytest.mark.anyio
async def test_database_number_is_used(redis_server: RedisServer, prefix: str) -> None:
    backend = RedisBackend(host=redis_server.host, port=redis_server.port, db=3)
    try:
        await backend.set(prefix + "k", b"in-db-3", None)
        assert redis_server.command("GET", prefix + "k") is None  # not in db 0
        assert await backend.get(prefix + "k") == b"in-db-3"
        await backend.delete(prefix + "k")
    finally:
        await backend.aclose()


@pytest.fixture
def unix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, str]]:
    path = str(tmp_path_factory.mktemp("sock") / "redis.sock")
    with RedisServer(extra_args=["--unixsocket", path, "--unixsocketperm", "700"]) as server:
        yield server, path


@pytest.mark.anyio
async def test_unix_socket(unix_server: tuple[RedisServer, str], pm: pluggy.PluginManager) -> None:
    server, path = unix_server
    async with Cache.from_url(f"unix://{path}?db=0", plugins=pm) as cache:
        await cache.aset("k", {"via": "unix"})
        assert await cache.aget("k") == {"via": "unix"}
    assert server.command("DBSIZE") == 1


@pytest.mark.anyio
async def test_bounded_pool_makes_tasks_wait_instead_of_failing(
    redis_server: RedisServer, prefix: str
) -> None:
    backend = RedisBackend(url=redis_server.url, max_connections=2)
    try:
        await backend.set(prefix + "k", b"v", None)
        results = await asyncio.gather(*(backend.get(prefix + "k") for _ in range(40)))
        assert results == [b"v"] * 40
        clients = redis_server.command("CLIENT", "LIST").decode()
        # two pooled connections at most (plus the inspection connection itself)
        assert clients.count("\n") <= 3
        await backend.delete(prefix + "k")
    finally:
        await backend.aclose()


# -- discovery and sharing ---------------------------------------------------------------
def test_entry_point_registers_redis(pm: pluggy.PluginManager) -> None:
    info = backend_registry(pm)["redis"]
    assert info.distribution == "cachekit-redis"


@pytest.mark.anyio
async def test_two_caches_on_one_server_share_entries(
    redis_server: RedisServer, pm: pluggy.PluginManager
) -> None:
    namespace = f"share-{uuid.uuid4().hex[:8]}"
    first = Cache(
        type="redis", host="127.0.0.1", port=redis_server.port, namespace=namespace, plugins=pm
    )
    second = Cache.from_url(f"{redis_server.url}?namespace={namespace}", plugins=pm)
    async with first, second:
        await first.aset("k", [1, 2, 3])
        assert await second.aget("k") == [1, 2, 3]
        assert await second.adelete("k") is True
        assert await first.aget("k") is None


def test_sync_face_and_several_event_loops(redis_server: RedisServer) -> None:
    """The sync API runs on cachekit's loop thread; ``asyncio.run`` brings more loops.
    Each loop gets its own client; ``aclose`` closes them all."""
    namespace = f"loops-{uuid.uuid4().hex[:8]}"
    cache = Cache.from_url(f"{redis_server.url}?namespace={namespace}")
    cache.set("k", {"from": "sync"})
    assert cache.get("k") == {"from": "sync"}

    async def from_another_loop() -> object:
        value = await cache.aget("k")
        await cache.aset("k2", "async")
        await cache.aclose()  # closes this loop's client and the loop thread's one
        return value

    assert asyncio.run(from_another_loop()) == {"from": "sync"}
    assert cache.get("k2") == "async"  # a new client on the loop thread, after aclose
    assert cache.clear() == 2
    cache.close()
