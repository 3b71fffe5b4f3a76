"""``qdrant-semantic``: entries and their vectors in Qdrant (a server, or embedded).

Layout (``<name>`` is ``qdrant_collection_name``, default ``cachekit``):

``<name>_values``
    One payload-only point per entry (no vector): ``{"k": key, "v": base64 bytes,
    "e": deadline}``. The backend is self-contained: no other store is needed.
``<name>`` (server) or ``<name>_<partition digest>`` (local mode)
    One point per indexed entry, with the named vector ``v`` (cosine) and payload
    ``{"k": key, "p": partition, "e": deadline}``, created on the first ``index``
    with the dimension of that first vector. On a server, one collection holds
    every partition and lookups filter on ``p`` (a tenant keyword index) and ``e``
    (a float index). qdrant-client's local mode evaluates payload filters in Python
    for every point, so there each partition gets its own collection and a lookup
    filters nothing: it asks for the best few points and skips expired ones.

Point IDs are UUIDs derived from the entry key, so writing a key twice replaces its
point (no duplicates). ``e`` is the ``clock`` time (wall-clock seconds) at which
the entry expires; reads ignore expired points, and a sweep deletes them at most
once per ``qdrant_purge_interval`` seconds, run by a write.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn, TypeVar

import httpx
from cachekit import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigurationError,
    SemanticBackend,
    SemanticMatch,
    Usage,
)
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException

from cachekit_qdrant._clients import LocalRunner, RemoteClients
from cachekit_qdrant._config import QdrantSettings, settings_from_options
from cachekit_qdrant._usage import scroll_usage

__all__ = ["QdrantSemanticBackend", "point_id"]

T = TypeVar("T")

#: Deadline of an entry without a lifetime (seconds; far beyond any clock).
FOREVER = 1e18
#: Scores within this of the threshold count as reaching it (vectors are float32).
SIMILARITY_SLACK = 1e-6
#: Local mode: how many best points a lookup fetches to step over expired ones.
_LOCAL_CANDIDATES = 8
_PAGE = 512
_MAX_MESSAGE = 200


def point_id(key: str) -> str:
    """The point ID of an entry key: a UUID made of the key's BLAKE2b digest."""
    return str(uuid.UUID(bytes=hashlib.blake2b(key.encode(), digest_size=16).digest()))


def _partition_digest(partition: str) -> str:
    return hashlib.blake2b(partition.encode(), digest_size=16).hexdigest()


def _alive(payload: Mapping[str, Any] | None, key: str | None, now: float) -> bool:
    if not payload or (key is not None and payload.get("k") != key):
        return False
    deadline = payload.get("e")
    return isinstance(deadline, int | float) and deadline > now


def _floats(vector: Sequence[float]) -> list[float]:
    """A plain list of floats (numpy arrays convert in C, not float by float)."""
    tolist = getattr(vector, "tolist", None)
    if callable(tolist):
        converted = tolist()
        if isinstance(converted, list):
            return (
                [float(x) for x in converted]
                if converted and isinstance(converted[0], int)
                else converted
            )
    return [float(x) for x in vector]


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class QdrantSemanticBackend(SemanticBackend):
    """Stores cachekit entries and their vectors in Qdrant (see the module docstring).

    Options (LiteLLM's names): ``qdrant_api_base`` and ``qdrant_api_key`` (a server),
    ``qdrant_location=":memory:"`` (the default) or ``qdrant_path`` (local mode),
    ``qdrant_collection_name`` (default ``cachekit``), ``qdrant_quantization_config``
    (``binary``/``scalar``/``product``; servers only), ``qdrant_timeout`` (seconds
    per request), ``qdrant_purge_interval`` (seconds between expiry sweeps, default
    60), ``url`` (``qdrant-semantic://…``) and ``clock`` (wall-clock seconds, for
    tests). Raises :class:`cachekit.ConfigurationError` for bad options, before any I/O.
    """

    semantic: ClassVar[bool] = True

    def __init__(
        self,
        *,
        qdrant_api_base: str | None = None,
        qdrant_api_key: str | None = None,
        qdrant_collection_name: str | None = None,
        qdrant_quantization_config: Any = None,
        qdrant_location: str | None = None,
        qdrant_path: str | None = None,
        qdrant_timeout: int | None = None,
        qdrant_purge_interval: float | None = None,
        url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        options = dict(locals())
        for name in ("self", "clock", "__class__"):
            options.pop(name, None)
        self.settings: QdrantSettings = settings_from_options(options)
        if not callable(clock):
            raise ConfigurationError("qdrant-semantic backend: clock must be a callable")
        self._clock = clock
        self._runner: LocalRunner | RemoteClients = (
            LocalRunner(self.settings) if self.settings.local else RemoteClients(self.settings)
        )
        self._values_ready = False
        #: Vector collections known to exist, with their dimension.
        self._vector_dims: dict[str, int] = {}
        self._next_purge = clock() + self.settings.purge_interval

    def __repr__(self) -> str:
        return f"QdrantSemanticBackend({self.settings.describe()!r})"

    # -- plumbing ----------------------------------------------------------------------
    def _fail(self, op: str, exc: BaseException) -> NoReturn:
        """Raise ``exc`` as cachekit's error (never with credentials or stored bytes)."""
        detail = str(exc).splitlines()[0] if str(exc) else ""
        if len(detail) > _MAX_MESSAGE:
            detail = detail[:_MAX_MESSAGE] + "…"
        message = (
            f"qdrant {op} on {self.settings.describe()} failed: {type(exc).__name__}: {detail}"
        )
        source = exc.source if isinstance(exc, ResponseHandlingException) else exc
        if isinstance(source, httpx.TimeoutException | TimeoutError):
            raise BackendTimeoutError(message) from exc
        if isinstance(source, httpx.TransportError | ConnectionError | OSError):
            raise BackendUnavailableError(message) from exc
        raise BackendError(message) from exc

    async def _call(self, op: str, operation: Callable[[AsyncQdrantClient], Awaitable[T]]) -> T:
        try:
            return await self._runner.call(operation)
        except BackendError:
            raise
        except Exception as exc:
            self._fail(op, exc)

    def _vector_collection(self, partition: str) -> str:
        name = self.settings.collection
        return f"{name}_{_partition_digest(partition)}" if self.settings.local else name

    async def _ensure_values(self, client: AsyncQdrantClient, create: bool = True) -> bool:
        if self._values_ready:
            return True
        name = self.settings.values_collection
        if not await client.collection_exists(name):
            if not create:
                return False
            try:
                await client.create_collection(name, vectors_config={})
            except Exception:
                if not await client.collection_exists(name):  # not a lost creation race
                    raise
            if not self.settings.local:
                await client.create_payload_index(name, "e", models.PayloadSchemaType.FLOAT)
        self._values_ready = True
        return True

    async def _ensure_vectors(
        self, client: AsyncQdrantClient, name: str, dim: int, create: bool
    ) -> bool:
        known = self._vector_dims.get(name)
        if known is None:
            if await client.collection_exists(name):
                info = await client.get_collection(name)
                vectors = info.config.params.vectors
                params = vectors.get("v") if isinstance(vectors, dict) else None
                if params is None:
                    raise BackendError(
                        f"qdrant collection {name!r} has no vector named 'v' (it was not "
                        "created by cachekit); choose another qdrant_collection_name"
                    )
                known = self._vector_dims[name] = int(params.size)
            elif not create:
                return False
            else:
                await self._create_vectors(client, name, dim)
                known = self._vector_dims[name] = dim
        if known != dim:
            raise BackendError(
                f"qdrant collection {name!r} holds {known}-dimensional vectors, this one has "
                f"{dim}; use one embedder per qdrant_collection_name"
            )
        return True

    async def _create_vectors(self, client: AsyncQdrantClient, name: str, dim: int) -> None:
        local = self.settings.local
        try:
            await client.create_collection(
                name,
                vectors_config={
                    "v": models.VectorParams(size=dim, distance=models.Distance.COSINE)
                },
                quantization_config=None if local else self.settings.quantization,
            )
        except Exception:
            if not await client.collection_exists(name):
                raise
        if not local:
            tenant = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
            await client.create_payload_index(name, "p", tenant)
            await client.create_payload_index(name, "e", models.PayloadSchemaType.FLOAT)

    async def _maybe_purge(self, client: AsyncQdrantClient) -> None:
        now = self._clock()
        if now < self._next_purge:
            return
        self._next_purge = now + self.settings.purge_interval
        expired = models.FilterSelector(
            filter=models.Filter(must=[models.FieldCondition(key="e", range=models.Range(lte=now))])
        )
        for name in [self.settings.values_collection, *self._vector_dims]:
            if name != self.settings.values_collection or self._values_ready:
                await client.delete(name, points_selector=expired, wait=False)

    # -- values --------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        ids = list(dict.fromkeys(point_id(k) for k in keys))

        async def op(client: AsyncQdrantClient) -> dict[str, Mapping[str, Any]]:
            if not await self._ensure_values(client, create=False):
                return {}
            records = await client.retrieve(
                self.settings.values_collection, ids=ids, with_payload=True, with_vectors=False
            )
            return {str(r.id): r.payload or {} for r in records}

        found = await self._call("retrieve", op)
        now = self._clock()
        out: list[bytes | None] = []
        for key in keys:
            payload = found.get(point_id(key))
            alive = payload is not None and _alive(payload, key, now)
            out.append(base64.b64decode(payload["v"]) if alive and payload else None)
        return out

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.set_many({key: value}, ttl)

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        if not mapping:
            return
        deadline = FOREVER if ttl is None else self._clock() + ttl
        points = [
            models.PointStruct(
                id=point_id(key),
                vector={},
                payload={"k": key, "v": base64.b64encode(value).decode(), "e": deadline},
            )
            for key, value in mapping.items()
        ]

        async def op(client: AsyncQdrantClient) -> None:
            await self._ensure_values(client)
            for chunk in _chunks(points, 64):
                await client.upsert(self.settings.values_collection, points=list(chunk), wait=True)
            await self._maybe_purge(client)

        await self._call("upsert", op)

    async def delete(self, key: str) -> bool:
        pid = point_id(key)

        async def op(client: AsyncQdrantClient) -> bool:
            if not await self._ensure_values(client, create=False):
                return False
            records = await client.retrieve(
                self.settings.values_collection, ids=[pid], with_payload=["k", "e"]
            )
            existed = bool(records) and _alive(records[0].payload, key, self._clock())
            selector = models.PointIdsList(points=[pid])
            await client.delete(self.settings.values_collection, points_selector=selector)
            for name in await self._vector_collections(client):
                await client.delete(name, points_selector=selector)
            return existed

        return await self._call("delete", op)

    async def _vector_collections(self, client: AsyncQdrantClient) -> list[str]:
        """Every vector collection of this backend (one, or one per partition locally)."""
        if not self.settings.local:
            name = self.settings.collection
            return (
                [name] if name in self._vector_dims or await client.collection_exists(name) else []
            )
        start = self.settings.collection + "_"
        listed = await client.get_collections()
        return [
            c.name
            for c in listed.collections
            if c.name.startswith(start) and c.name != self.settings.values_collection
        ]

    async def clear(self, prefix: str) -> int:
        """Delete the entries (and index points) whose key starts with ``prefix``."""

        async def sweep(client: AsyncQdrantClient, name: str, count_live: bool) -> int:
            live = 0
            offset: Any = None
            doomed: list[Any] = []
            now = self._clock()
            while True:
                records, offset = await client.scroll(
                    name, limit=_PAGE, offset=offset, with_payload=["k", "e"], with_vectors=False
                )
                for record in records:
                    key = (record.payload or {}).get("k")
                    if isinstance(key, str) and key.startswith(prefix):
                        doomed.append(record.id)
                        live += count_live and _alive(record.payload, key, now)
                if offset is None:
                    break
            for chunk in _chunks(doomed, _PAGE):
                selector = models.PointIdsList(points=list(chunk))
                await client.delete(name, points_selector=selector, wait=True)
            return live

        async def op(client: AsyncQdrantClient) -> int:
            removed = 0
            if await self._ensure_values(client, create=False):
                removed = await sweep(client, self.settings.values_collection, True)
            for name in await self._vector_collections(client):
                await sweep(client, name, False)
            return removed

        return await self._call("clear", op)

    async def usage(self, prefix: str) -> Usage:
        """Live entries under ``prefix`` and their value bytes (see ``_usage``)."""

        async def op(client: AsyncQdrantClient) -> tuple[int, int]:
            if not await self._ensure_values(client, create=False):
                return 0, 0
            return await scroll_usage(client, self.settings.values_collection, prefix, now)

        now = self._clock()
        return Usage(*await self._call("usage", op))

    # -- vectors ------------------------------------------------------------------------------
    async def index(
        self, partition: str, key: str, vector: Sequence[float], ttl: float | None
    ) -> None:
        await self.index_many(partition, [(key, vector)], ttl)

    async def index_many(
        self,
        partition: str,
        items: Sequence[tuple[str, Sequence[float]]],
        ttl: float | None,
    ) -> None:
        """Index several entries of one partition with one lifetime, 1024 points per
        request (the bulk path for imports and benchmarks)."""
        if not items:
            return
        dim = len(items[0][1])
        if dim == 0 or any(len(v) != dim for _, v in items):
            raise BackendError("qdrant-semantic: vectors must be non-empty and of one dimension")
        deadline = FOREVER if ttl is None else self._clock() + ttl
        name = self._vector_collection(partition)
        points = [
            models.PointStruct(
                id=point_id(key),
                vector={"v": _floats(vector)},
                payload={"k": key, "p": partition, "e": deadline},
            )
            for key, vector in items
        ]

        async def op(client: AsyncQdrantClient) -> None:
            await self._ensure_vectors(client, name, dim, create=True)
            for chunk in _chunks(points, 1024):
                await client.upsert(name, points=list(chunk), wait=True)
            await self._maybe_purge(client)

        await self._call("upsert", op)

    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        query = _floats(vector)
        if not query:
            raise BackendError("qdrant-semantic: a vector must be non-empty")
        name = self._vector_collection(partition)
        local = self.settings.local

        async def op(client: AsyncQdrantClient) -> SemanticMatch | None:
            if not await self._ensure_vectors(client, name, len(query), create=False):
                return None
            now = self._clock()
            live = models.FieldCondition(key="e", range=models.Range(gt=now))
            if local:  # a collection per partition: no filter, step over expired points
                found, exhausted = await self._nearest(client, name, query, threshold, None, now)
                if not exhausted:
                    return found
                must = [live]  # every candidate had expired (a sweep is due): filter instead
            else:
                must = [
                    models.FieldCondition(key="p", match=models.MatchValue(value=partition)),
                    live,
                ]
            return (await self._nearest(client, name, query, threshold, must, now))[0]

        return await self._call("query_points", op)

    async def _nearest(
        self,
        client: AsyncQdrantClient,
        name: str,
        query: list[float],
        threshold: float,
        must: list[models.FieldCondition] | None,
        now: float,
    ) -> tuple[SemanticMatch | None, bool]:
        """The best live point (or ``None``), and whether the candidates ran out
        because every one fetched had expired (unfiltered local lookups only)."""
        limit = 1 if must else _LOCAL_CANDIDATES
        response = await client.query_points(
            name,
            query=query,
            using="v",
            query_filter=None if must is None else models.Filter(must=list(must)),
            limit=limit,
            score_threshold=threshold - SIMILARITY_SLACK,
            with_payload=["k", "e"],
        )
        for point in response.points:
            payload = point.payload or {}
            key = payload.get("k")
            if isinstance(key, str) and _alive(payload, None, now):
                return SemanticMatch(key, min(float(point.score), 1.0)), False
        return None, must is None and len(response.points) == limit

    async def aclose(self) -> None:
        try:
            await self._runner.aclose()
        except Exception as exc:
            self._fail("close", exc)
        finally:
            self._values_ready = False
            self._vector_dims.clear()
