"""``Cache(type="qdrant-semantic")`` end to end in qdrant-client's embedded local mode
(and on a server when ``CACHEKIT_QDRANT_URL`` is set): the shared semantic scenarios,
plus what is specific to this backend: its options, the collection layout,
persistence and expiry sweeps."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cachekit import BackendUnavailableError, Cache, ConfigurationError
from cachekit.testing import FakeClock, SemanticScenarios, unit_vector
from cachekit_qdrant import QdrantSemanticBackend, point_id, quantization
from qdrant_client import AsyncQdrantClient, models

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
QUESTION = "What is the capital of France?"
REWORDED = "what is the capital of france"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def request(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}]}


@pytest.fixture(params=["local", "server"])
def target(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Where the caches of a test live: local mode always, a server when configured."""
    if request.param == "local":
        return {}
    url = request.getfixturevalue("qdrant_url")
    return {
        "qdrant_api_base": url,
        "qdrant_collection_name": request.getfixturevalue("server_collection"),
    }


@pytest.fixture
async def semantic_caches(
    clock: FakeClock, target: dict[str, Any]
) -> AsyncIterator[Callable[..., Cache]]:
    """Build ``Cache(type="qdrant-semantic")`` objects where ``target`` says, on the
    test's clock; each is closed at the end."""
    made: list[Cache] = []

    def make(**options: Any) -> Cache:
        cache = Cache(type="qdrant-semantic", clock=clock, **target, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.aclose()


# -- the user-visible scenarios, shared with every semantic backend ------------------------
class TestQdrantSemanticScenarios(SemanticScenarios):
    """``cachekit.testing.SemanticScenarios`` in local mode (and on a server when
    ``CACHEKIT_QDRANT_URL`` is set), lifetimes on a :class:`FakeClock`."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()  # the same instance reaches semantic_caches and advance

    @pytest.fixture
    def make_cache(self, semantic_caches: Callable[..., Cache]) -> Callable[..., Cache]:
        return semantic_caches


async def test_storing_a_prompt_again_keeps_one_point(
    semantic_caches: Callable[..., Cache],
) -> None:
    cache = semantic_caches()
    await cache.async_add_cache(ANSWER, **request(QUESTION))
    await cache.async_add_cache(ANSWER, **request(QUESTION))  # the same prompt again
    assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
    backend = cache.backend
    assert isinstance(backend, QdrantSemanticBackend)

    async def count(client: AsyncQdrantClient) -> int:
        total = 0
        for name in await backend._vector_collections(client):
            total += (await client.count(name)).count
        return total

    assert await backend._call("count", count) == 1


# -- the backend ----------------------------------------------------------------------------
async def test_local_path_persists_across_instances(tmp_path: Path, clock: FakeClock) -> None:
    path = str(tmp_path / "store")
    first = Cache(type="qdrant-semantic", qdrant_path=path, clock=clock)
    await first.async_add_cache(ANSWER, **request(QUESTION))
    await first.aclose()  # releases the directory lock
    second = Cache(type="qdrant-semantic", qdrant_path=path, clock=clock)
    try:
        assert await second.async_get_cache(**request(REWORDED)) == ANSWER
    finally:
        await second.aclose()


async def test_expired_points_are_swept(clock: FakeClock) -> None:
    backend = QdrantSemanticBackend(clock=clock, qdrant_purge_interval=10)
    try:
        partition = uuid.uuid4().hex
        await backend.set("cachekit:v2:x:old", b"old", 1.0)
        await backend.index(partition, "cachekit:v2:x:old", unit_vector(1), 1.0)
        clock.advance(11)
        await backend.set("cachekit:v2:x:new", b"new", None)  # a write runs the sweep
        await backend.index(partition, "cachekit:v2:x:new", unit_vector(0, 1), None)

        async def keys(client: AsyncQdrantClient) -> set[str]:
            names = [backend.settings.values_collection]
            names += await backend._vector_collections(client)
            found = set()
            for name in names:
                records, _ = await client.scroll(name, limit=100, with_payload=["k"])
                found |= {str((r.payload or {})["k"]) for r in records}
            return found

        assert await backend._call("scroll", keys) == {"cachekit:v2:x:new"}
    finally:
        await backend.aclose()


async def test_local_lookups_step_over_expired_candidates(clock: FakeClock) -> None:
    backend = QdrantSemanticBackend(clock=clock, qdrant_purge_interval=3600)
    try:
        partition = uuid.uuid4().hex
        # Ten better matches that expire, one worse that does not: more than a lookup
        # fetches at once, so it has to fall back to the filtered query.
        for i in range(10):
            await backend.index(partition, f"k{i}", unit_vector(1, 0.01 * i), 1.0)
        await backend.index(partition, "kept", unit_vector(1, 0.5), None)
        clock.advance(2)
        match = await backend.search(partition, unit_vector(1), 0.5)
        assert match is not None
        assert match.key == "kept"
    finally:
        await backend.aclose()


async def test_delete_removes_the_index_point_too(clock: FakeClock) -> None:
    backend = QdrantSemanticBackend(clock=clock)
    try:
        partition = uuid.uuid4().hex
        await backend.set("cachekit:v2:d:k", b"v", None)
        await backend.index(partition, "cachekit:v2:d:k", unit_vector(1), None)
        assert await backend.delete("cachekit:v2:d:k") is True
        assert await backend.search(partition, unit_vector(1), 0.5) is None
    finally:
        await backend.aclose()


async def test_dimension_mismatch_is_a_clear_error(clock: FakeClock) -> None:
    backend = QdrantSemanticBackend(clock=clock)
    try:
        await backend.index("p", "a", unit_vector(1, dim=8), None)
        from cachekit import BackendError

        with pytest.raises(BackendError, match="8-dimensional"):
            await backend.index("p", "b", unit_vector(1, dim=4), None)
    finally:
        await backend.aclose()


async def test_a_dead_server_is_backend_unavailable(clock: FakeClock) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = QdrantSemanticBackend(
        qdrant_api_base=f"http://127.0.0.1:{port}", qdrant_api_key="secret-key-123", clock=clock
    )
    try:
        with (
            pytest.warns(UserWarning, match="insecure connection"),  # qdrant-client's own
            pytest.raises(BackendUnavailableError) as caught,
        ):
            await backend.get("cachekit:v2:x:k")
        assert "secret-key-123" not in str(caught.value)
    finally:
        await backend.aclose()


# -- options ------------------------------------------------------------------------------
def test_quantization_presets_map_to_qdrant_configs() -> None:
    binary = quantization("binary")
    assert isinstance(binary, models.BinaryQuantization)
    scalar = quantization("scalar")
    assert isinstance(scalar, models.ScalarQuantization)
    assert scalar.scalar.type == models.ScalarType.INT8
    assert scalar.scalar.quantile == 0.99
    product = quantization("product")
    assert isinstance(product, models.ProductQuantization)
    assert product.product.compression == models.CompressionRatio.X16
    assert quantization(None) is None
    assert quantization(binary) is binary


async def test_local_mode_accepts_and_ignores_quantization(clock: FakeClock) -> None:
    for preset in ("binary", "scalar", "product"):
        cache = Cache(type="qdrant-semantic", qdrant_quantization_config=preset, clock=clock)
        await cache.async_add_cache(ANSWER, **request(QUESTION))
        assert await cache.async_get_cache(**request(REWORDED)) == ANSWER
        await cache.aclose()


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="qdrant_quantization_config"):
        Cache(type="qdrant-semantic", qdrant_quantization_config="float8")
    with pytest.raises(ConfigurationError, match="only one of"):
        Cache(type="qdrant-semantic", qdrant_api_base="http://h:6333", qdrant_path="/tmp/x")
    with pytest.raises(ConfigurationError, match="qdrant_api_key needs a server"):
        Cache(type="qdrant-semantic", qdrant_api_key="k")
    with pytest.raises(ConfigurationError, match="qdrant_collection_name"):
        Cache(type="qdrant-semantic", qdrant_collection_name="bad name/")
    with pytest.raises(ConfigurationError, match="qdrant_api_base"):
        Cache(type="qdrant-semantic", qdrant_api_base="ftp://h")
    with pytest.raises(ConfigurationError, match="qdrant_location"):
        Cache(type="qdrant-semantic", qdrant_location="somewhere")
    with pytest.raises(ConfigurationError, match="similarity_threshold"):
        Cache(type="qdrant-semantic", similarity_threshold=1.5)


def test_options_and_urls_reach_the_backend() -> None:
    cache = Cache.from_url("qdrant-semantic://qdrant.internal:6333/llm?https=true&api_key=k1")
    backend = cache.backend
    assert isinstance(backend, QdrantSemanticBackend)
    assert backend.settings.api_base == "https://qdrant.internal:6333"
    assert backend.settings.collection == "llm"
    assert backend.settings.api_key == "k1"
    assert "k1" not in repr(backend)
    local = Cache.from_url("qdrant-semantic:///var/cache/q").backend
    assert isinstance(local, QdrantSemanticBackend)
    assert local.settings.local
    assert local.settings.location == "/var/cache/q"
    memory = Cache(type="qdrant-semantic", qdrant_location=":memory:").backend
    assert isinstance(memory, QdrantSemanticBackend)
    assert memory.settings.location == ":memory:"


def test_point_ids_are_stable_uuids() -> None:
    assert point_id("cachekit:v2:ns:k") == point_id("cachekit:v2:ns:k")
    assert point_id("cachekit:v2:ns:k") != point_id("cachekit:v2:ns:k2")
    assert str(uuid.UUID(point_id("x"))) == point_id("x")
