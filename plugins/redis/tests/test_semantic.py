"""``Cache(type="redis-semantic")`` end to end on a real redis-server 7.0 (no modules):
the shared semantic scenarios, plus what is specific to the mirror index: one round
trip per lookup and no keyspace scan, readers catching up after the change stream was
trimmed or the partition was recreated, key lifetimes on the server, and sharing
across event loops."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import cachekit_redis._semantic as semantic_module
import pytest
from cachekit import BackendError, Cache, ConfigurationError
from cachekit.testing import SemanticScenarios, unit_vector
from cachekit_redis._semantic import RedisSemanticBackend, partition_id
from cachekit_redis.testing import RedisServer

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"
REWORDED = "what is the capital of france"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}


def request(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}]}


@pytest.fixture
async def semantic_caches(redis_server: RedisServer) -> AsyncIterator[Callable[..., Cache]]:
    """Build ``Cache(type="redis-semantic")`` objects on the shared server, in a
    namespace of the test's own; each is cleared and closed at the end."""
    made: list[Cache] = []
    namespace = f"t{uuid.uuid4().hex[:10]}"

    def make(**options: Any) -> Cache:
        options.setdefault("namespace", namespace)
        cache = Cache(type="redis-semantic", url=redis_server.url, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.aclear()
        await cache.aclose()


@pytest.fixture
async def backend(redis_server: RedisServer) -> AsyncIterator[RedisSemanticBackend]:
    instance = RedisSemanticBackend(url=redis_server.url)
    yield instance
    await instance.aclose()


# -- the user-visible scenarios, shared with every semantic backend ------------------------
class TestRedisSemanticScenarios(SemanticScenarios):
    """``cachekit.testing.SemanticScenarios`` on a real redis-server. Lifetimes run on
    the server's clock (``PX``), so the two lifetime scenarios sleep 0.7 s."""

    @pytest.fixture
    def make_cache(self, semantic_caches: Callable[..., Cache]) -> Callable[..., Cache]:
        return semantic_caches


async def test_sync_face_and_event_loops_share_the_mirror(
    semantic_caches: Callable[..., Cache],
) -> None:
    cache = semantic_caches()
    await anyio.to_thread.run_sync(lambda: cache.add_cache(ANSWER, **request(QUESTION)))
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER  # this test's loop
    assert await anyio.to_thread.run_sync(lambda: cache.get_cache(**request(REWORDED))) == ANSWER


# -- the mirror index ---------------------------------------------------------------------------
async def test_auto_picks_the_mirror_on_plain_redis(backend: RedisSemanticBackend) -> None:
    assert backend.index_engine is None
    assert await backend.search(uuid.uuid4().hex, unit_vector(1), 0.5) is None
    assert backend.index_engine == "mirror"


async def test_forcing_the_search_module_on_plain_redis_fails_clearly(
    redis_server: RedisServer,
) -> None:
    forced = RedisSemanticBackend(url=redis_server.url, semantic_index="search")
    try:
        assert forced.index_engine == "search"
        with pytest.raises(BackendError, match=r"FT\."):
            await forced.index(uuid.uuid4().hex, "cachekit:v2:x:k", unit_vector(1), None)
    finally:
        await forced.aclose()


async def test_a_lookup_is_one_script_call_and_never_scans(
    backend: RedisSemanticBackend, redis_server: RedisServer
) -> None:
    partition = uuid.uuid4().hex
    await backend.index(partition, "cachekit:v2:x:k", unit_vector(1), None)
    assert await backend.search(partition, unit_vector(1), 0.5) is not None  # mirror built
    before = {c: redis_server.command_calls(c) for c in ("evalsha", "scan", "hscan", "keys")}
    for _ in range(5):
        assert await backend.search(partition, unit_vector(1), 0.5) is not None
    after = {c: redis_server.command_calls(c) for c in before}
    assert after["evalsha"] - before["evalsha"] == 5
    assert after["scan"] == before["scan"]
    assert after["hscan"] == before["hscan"]
    assert after["keys"] == before["keys"]


async def test_reader_catches_up_after_the_stream_was_trimmed(
    redis_server: RedisServer,
) -> None:
    partition = uuid.uuid4().hex
    reader = RedisSemanticBackend(url=redis_server.url)
    writer = RedisSemanticBackend(url=redis_server.url)
    keys = [f"cachekit:v2:trim:{i}" for i in range(10)]
    try:
        await writer.index(partition, keys[0], unit_vector(1, dim=16), None)
        assert await reader.search(partition, unit_vector(1, dim=16), 0.9) is not None
        # 3000 changes to 10 entries: the stream keeps ~1000, so the reader's cursor is gone.
        for round_ in range(300):
            await writer.index_many(
                partition,
                [(key, unit_vector(*([0.0] * i), 1.0, dim=16)) for i, key in enumerate(keys)],
                None if round_ < 299 else 3600.0,
            )
        names = reader._names(partition_id(partition), 16)
        assert redis_server.command("XLEN", names[2]) < 3000
        for i, key in enumerate(keys):
            match = await reader.search(partition, unit_vector(*([0.0] * i), 1.0, dim=16), 0.99)
            assert match is not None
            assert match.key == key
    finally:
        await reader.aclose()
        await writer.aclose()


async def test_reader_drops_a_partition_that_was_deleted_and_recreated(
    redis_server: RedisServer,
) -> None:
    partition = uuid.uuid4().hex
    reader = RedisSemanticBackend(url=redis_server.url)
    writer = RedisSemanticBackend(url=redis_server.url)
    try:
        await writer.index(partition, "cachekit:v2:gen:old", unit_vector(1), None)
        assert await reader.search(partition, unit_vector(1), 0.9) is not None
        redis_server.command("DEL", *writer._names(partition_id(partition), 8))
        await writer.index(partition, "cachekit:v2:gen:new", unit_vector(0, 1), None)
        assert await reader.search(partition, unit_vector(1), 0.5) is None
        match = await reader.search(partition, unit_vector(0, 1), 0.9)
        assert match is not None
        assert match.key == "cachekit:v2:gen:new"
    finally:
        await reader.aclose()
        await writer.aclose()


async def test_partition_keys_live_as_long_as_their_longest_entry(
    backend: RedisSemanticBackend, redis_server: RedisServer
) -> None:
    short, mixed = uuid.uuid4().hex, uuid.uuid4().hex
    await backend.index(short, "cachekit:v2:life:a", unit_vector(1), 0.5)
    await backend.index(short, "cachekit:v2:life:b", unit_vector(0, 1), 30.0)
    await backend.index(mixed, "cachekit:v2:life:c", unit_vector(1), None)
    await backend.index(mixed, "cachekit:v2:life:d", unit_vector(0, 1), 0.5)
    for name in backend._names(partition_id(short), 8):
        assert 29_000 < redis_server.command("PTTL", name) <= 30_000
    for name in backend._names(partition_id(mixed), 8)[::2]:  # hash and stream
        assert redis_server.command("PTTL", name) == -1


async def test_expired_entries_are_purged_from_the_server(
    backend: RedisSemanticBackend, redis_server: RedisServer
) -> None:
    partition = uuid.uuid4().hex
    await backend.index_many(
        partition, [(f"cachekit:v2:p:{i}", unit_vector(1)) for i in range(20)], 0.2
    )
    await anyio.sleep(0.4)
    await backend.index(partition, "cachekit:v2:p:keep", unit_vector(0, 1), None)  # purges
    h = backend._names(partition_id(partition), 8)[0]
    assert redis_server.command("HKEYS", h) == [b"cachekit:v2:p:keep"]


async def test_large_partitions_search_in_a_worker_thread(
    backend: RedisSemanticBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_module, "_OFFLOAD_CELLS", 0)
    partition = uuid.uuid4().hex
    await backend.index(partition, "cachekit:v2:off:k", unit_vector(1), None)
    match = await backend.search(partition, unit_vector(1), 0.9)
    assert match is not None
    assert match.key == "cachekit:v2:off:k"


async def test_vectors_of_another_dimension_live_apart(backend: RedisSemanticBackend) -> None:
    partition = uuid.uuid4().hex
    await backend.index(partition, "cachekit:v2:dim:8", unit_vector(1, dim=8), None)
    await backend.index(partition, "cachekit:v2:dim:4", unit_vector(1, dim=4), None)
    small = await backend.search(partition, unit_vector(1, dim=4), 0.9)
    assert small is not None
    assert small.key == "cachekit:v2:dim:4"


# -- options ------------------------------------------------------------------------------
def test_unknown_and_bad_options_are_configuration_errors(redis_server: RedisServer) -> None:
    with pytest.raises(ConfigurationError, match="semantic_idx"):
        Cache(type="redis-semantic", url=redis_server.url, semantic_idx="mirror")
    with pytest.raises(ConfigurationError, match="semantic_index"):
        Cache(type="redis-semantic", url=redis_server.url, semantic_index="faiss")
    with pytest.raises(ConfigurationError, match="semantic_prefix"):
        RedisSemanticBackend(semantic_prefix="a{b")
    with pytest.raises(ConfigurationError, match="semantic_max_partitions"):
        RedisSemanticBackend(semantic_max_partitions=0)
    with pytest.raises(ConfigurationError, match="port"):
        Cache(type="redis-semantic", port="not-a-port")


def test_options_reach_the_backend(redis_server: RedisServer) -> None:
    cache = Cache(
        type="redis-semantic",
        url=redis_server.url,
        similarity_threshold=0.8,
        semantic_index="mirror",
        semantic_prefix="myapp:sem:",
        default_in_redis_ttl=60,
    )
    backend = cache.backend
    assert isinstance(backend, RedisSemanticBackend)
    assert backend.index_engine == "mirror"
    assert backend._prefix == "myapp:sem:"
    assert backend.default_ttl == 60
    assert "index=mirror" in repr(backend)


def test_partition_ids_are_safe_in_keys_and_tags() -> None:
    assert partition_id("0123abcd") == "0123abcd"
    odd = partition_id("with space{and}braces")
    assert len(odd) == 32
    assert odd.isalnum()
