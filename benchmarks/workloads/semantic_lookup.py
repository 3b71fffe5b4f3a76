"""Semantic lookup latency at 10k and 50k entries x 384 dimensions.

Two workloads per size, each with its own floor and target:

* **redis-semantic** against a numpy brute-force floor (``argmax(X @ q)`` over a
  float32 matrix, what any exact top-1 must at least do): ``backend.search`` (one
  ``EVALSHA`` round trip to a throwaway ``redis-server`` plus the matrix product over
  the partition's mirror), and a full ``Cache.async_get_cache`` semantic hit (exact
  ``GET`` miss, ``hash`` embedding, search, ``GET`` of the match, envelope decode).
  Target: search ≤ 3x the numpy floor.
* **qdrant-semantic** (embedded local mode, in memory) against qdrant-client's local
  mode used directly (``query_points`` top-1 on one collection, no filter): the same
  two cachekit rows. Target: search ≤ 1.2x raw qdrant-client. qdrant-client's local
  mode is a Python/numpy brute-force scan with a full ``argsort``, not the server's
  HNSW index; its payload filters run in Python per point, which is why cachekit
  gives each partition its own collection there.

All entries sit in the one partition looked up (the worst case: a partition's size
is what a lookup pays for). Vectors are random unit vectors; the query is one of
them plus noise (cosine ≈ 0.97), threshold 0.8. The index is filled through the
backends' public bulk path ``index_many`` (redis: 256 entries per ``EVALSHA``;
qdrant: 1024 points per ``upsert``); the fill time is in the notes. These workloads
run fewer rounds than the µs-scale ones (qdrant's lookups take tens of ms).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
import warnings
from typing import Any

from benchmarks.harness import Ctx, Op, Row, Settings, Target, Workload, run_micro

ORDER = 60
DIM = 384
SIZES = (10_000, 50_000)
THRESHOLD = 0.8
QUESTION = "What is the capital of France?"
REWORDED = "what is the capital of france"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}
MODEL = "gpt-4o-mini"

_data: dict[int, Any] = {}


def request(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}]}


def dataset(n: int) -> tuple[Any, Any, int]:
    """``(X, q, j)``: ``n`` random float32 unit vectors, a query near row ``j``."""
    if n not in _data:
        import numpy as np

        rng = np.random.default_rng(n)
        matrix = rng.standard_normal((n, DIM), dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        j = n // 3
        noise = rng.standard_normal(DIM).astype(np.float32)
        query = matrix[j] + 0.25 * noise / np.linalg.norm(noise)
        query /= np.linalg.norm(query)
        _data[n] = (matrix, query.astype(np.float32), j)
    return _data[n]


def entry_key(namespace: str, i: int) -> str:
    return f"cachekit:v2:{namespace}:completion:{i:064x}"


def _fill(ctx: Ctx, cache: Any, namespace: str, n: int) -> tuple[str, float]:
    """Index ``n`` random entries into the partition of ``request(...)`` and store one
    real entry; return the partition and the seconds the bulk index took."""
    from cachekit._policy._keys import canonical_params
    from cachekit._semantic._index import partition_of

    matrix, _, _ = dataset(n)
    partition = partition_of(namespace, "completion", canonical_params(request(QUESTION)), "hash")
    items = [(entry_key(namespace, i), matrix[i]) for i in range(n)]
    t0 = time.perf_counter()
    ctx.run(cache.backend.index_many(partition, items, None))
    seconds = time.perf_counter() - t0
    ctx.run(cache.async_add_cache(ANSWER, **request(QUESTION)))
    return partition, seconds


def _numpy_floor(ctx: Ctx, n: int, **flags: Any) -> None:
    def make() -> Op:
        import numpy as np

        matrix, query, _ = dataset(n)
        return lambda: int(np.argmax(matrix @ query))

    ctx.add("numpy argmax(X @ q), float32", make, expect=dataset(n)[2], **flags)


def _cachekit_rows(ctx: Ctx, n: int, label: str, make_cache: Any) -> None:
    """The two cachekit rows over one filled cache: ``backend.search`` and a Cache hit."""
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    state: dict[str, Any] = {}

    def setup() -> dict[str, Any]:
        if not state:
            cache = make_cache(namespace)
            ctx.defer(cache.aclose)
            partition, seconds = _fill(ctx, cache, namespace, n)
            state.update(cache=cache, partition=partition, fill=seconds)
        return state

    def search() -> Op:
        s = setup()
        _, query, _ = dataset(n)
        backend, partition = s["cache"].backend, s["partition"]

        async def op() -> str | None:
            match = await backend.search(partition, query, THRESHOLD)
            return None if match is None else match.key

        return op

    ctx.add(
        f"{label} backend.search",
        search,
        targeted=True,
        expect=entry_key(namespace, dataset(n)[2]),
    )
    if state:
        ctx.impls[-1].note = f"{n:,} entries indexed via index_many in {state['fill']:.1f} s"

    def full() -> Op:
        cache = setup()["cache"]
        return lambda: cache.async_get_cache(**request(REWORDED))

    ctx.add(
        f"{label} Cache.async_get_cache semantic hit",
        full,
        expect=ANSWER,
        note="exact GET miss, hash embedding, search, GET of the match, decode",
    )


def _redis_build(n: int) -> Any:
    def build(ctx: Ctx) -> None:
        _numpy_floor(ctx, n, floor=True)

        def make_cache(namespace: str) -> Any:
            from cachekit import Cache
            from cachekit_redis.testing import RedisServer

            server = RedisServer().start()
            ctx.defer(server.close)
            return Cache(
                type="redis-semantic",
                url=server.url,
                namespace=namespace,
                similarity_threshold=THRESHOLD,
                timeout=30,
            )

        _cachekit_rows(ctx, n, "redis-semantic", make_cache)

    return build


def _qdrant_build(n: int) -> Any:
    def build(ctx: Ctx) -> None:
        warnings.filterwarnings("ignore", message=".*Local mode is not recommended.*")
        fill: dict[str, float] = {}

        def raw() -> Op:
            from qdrant_client import AsyncQdrantClient, models

            matrix, query, _ = dataset(n)
            client = AsyncQdrantClient(location=":memory:")
            ctx.defer(client.close)
            params = models.VectorParams(size=DIM, distance=models.Distance.COSINE)
            ctx.run(client.create_collection("bench", vectors_config={"v": params}))
            t0 = time.perf_counter()
            for start in range(0, n, 1024):
                points = [
                    models.PointStruct(id=i, vector={"v": matrix[i].tolist()}, payload={"k": i})
                    for i in range(start, min(n, start + 1024))
                ]
                ctx.run(client.upsert("bench", points=points, wait=True))
            fill["raw"] = time.perf_counter() - t0
            vector = query.tolist()

            async def op() -> int:
                response = await client.query_points(
                    "bench", query=vector, using="v", limit=1, with_payload=["k"]
                )
                return int(response.points[0].payload["k"])

            return op

        ctx.add(
            "qdrant-client local query_points (raw)",
            raw,
            floor=True,
            expect=dataset(n)[2],
            note="one collection, top-1, no filter",
        )
        if "raw" in fill:
            ctx.impls[-1].note += f"; {n:,} points upserted in {fill['raw']:.1f} s"
        _numpy_floor(ctx, n, reference=True)

        def make_cache(namespace: str) -> Any:
            from cachekit import Cache

            return Cache(
                type="qdrant-semantic",
                namespace=namespace,
                similarity_threshold=THRESHOLD,
                timeout=60,
            )

        _cachekit_rows(ctx, n, "qdrant-semantic (local mode)", make_cache)

    return build


def _fewer_rounds(workload: Workload, rounds: int) -> Any:
    def measure(settings: Settings) -> list[Row]:
        quick = dataclasses.replace(
            settings, rounds=min(settings.rounds, rounds), samples=min(settings.samples, 3)
        )
        return run_micro(workload, quick)

    return measure


def _workloads() -> list[Workload]:
    out: list[Workload] = []
    for n in SIZES:
        size = f"{n // 1000}k x {DIM}"
        redis = Workload(
            f"semantic lookup {size}: redis-semantic",
            build=_redis_build(n),
            target=Target("≤ 3x numpy floor", ratio_max=3.0),
        )
        qdrant = Workload(
            f"semantic lookup {size}: qdrant-semantic",
            build=_qdrant_build(n),
            target=Target("≤ 1.2x raw qdrant-client", ratio_max=1.2),
        )
        out.append(redis)
        rounds = 20 if n <= 10_000 else 8  # a 50k local-mode lookup takes 0.1-0.3 s
        out.append(dataclasses.replace(qdrant, measure=_fewer_rounds(qdrant, rounds)))
    return out


WORKLOADS = _workloads()
