"""``redis-semantic``: the ``redis`` backend plus a vector index of its entries.

Values are stored exactly as the ``redis`` backend stores them (``GET``/``SET …
PX`` under the entry key); only the vector index is added. Two index paths:

``mirror`` (plain Redis 7 without modules, Valkey, KeyDB, ElastiCache…)
    Per partition, a hash of entry key → vector, a change stream and a generation
    token (see :mod:`cachekit_redis._semantic_scripts`). Each process mirrors the
    partitions it looks up into a float32 numpy matrix and reads only the changes
    since its last lookup, so a lookup is one round trip (a Lua script) plus one
    matrix-vector product over that partition; nothing scans the keyspace.
``search`` (Redis Stack, Redis 8, Valkey with valkey-search)
    One ``FT.CREATE … VECTOR HNSW`` index per dimension, queried with a KNN
    ``FT.SEARCH`` filtered by partition (see :mod:`cachekit_redis._semantic_ft`).

``semantic_index="auto"`` (the default) asks the server once (``FT._LIST``) and
takes ``search`` when it answers, ``mirror`` otherwise (always ``mirror`` on a
Cluster, whose search module would see one shard); ``"mirror"`` or ``"search"``
force a path. ``backend.index_engine`` says which one is in use.

The ``search`` path has not run against a real ``FT.SEARCH``: the machine it was
written on runs redis-server 7.0 without modules, so its commands and reply parsing
are unit-tested only.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

import anyio
from cachekit import BackendError, ConfigurationError, SemanticBackend, SemanticMatch
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from cachekit_redis._backend import RedisBackend, _ms, _scan_pattern
from cachekit_redis._clients import Client
from cachekit_redis._numpy import np
from cachekit_redis._semantic_ft import (
    create_index_args,
    doc_key,
    is_missing_index,
    parse_search_reply,
    search_args,
)
from cachekit_redis._semantic_mirror import (
    SIMILARITY_SLACK,
    MirrorSet,
    PartitionMirror,
    Vector,
    parse_record,
)
from cachekit_redis._semantic_scripts import INDEX, REMOVE, SNAPSHOT, STREAM_MIN_LEN, SYNC

__all__ = ["DEFAULT_SEMANTIC_PREFIX", "RedisSemanticBackend", "partition_id"]

Engine = Literal["mirror", "search"]

#: Where the index keys live; apart from the entries (``cachekit:v2:…``), so
#: clearing a namespace never removes a partition's bookkeeping by accident.
DEFAULT_SEMANTIC_PREFIX = "cachekit:semantic:v1:"
_ENGINES = ("auto", "mirror", "search")
_SAFE_PARTITION = re.compile(r"[0-9A-Za-z_]{1,64}")
#: Records per ``SYNC`` answer and entries per ``INDEX``/``REMOVE`` call.
_SYNC_BATCH = 2000
_WRITE_BATCH = 256
#: Lookups over more rows x dimensions than this (~80k x 384, several ms of
#: arithmetic) run in a worker thread so they do not stall the event loop; smaller
#: ones run inline, since a thread hop on a busy host costs more than it saves.
_OFFLOAD_CELLS = 32_000_000
_MAX_RELOADS = 4
_MAX_SYNC_ROUNDS = 128


def partition_id(partition: str) -> str:
    """``partition`` itself when it is a short word, else a digest (safe in a key and a TAG)."""
    if _SAFE_PARTITION.fullmatch(partition):
        return partition
    return hashlib.blake2b(partition.encode(), digest_size=16).hexdigest()


def _as_vector(vector: Sequence[float]) -> Vector:
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise BackendError("redis-semantic: a vector must be a non-empty sequence of floats")
    return array


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RedisSemanticBackend(RedisBackend, SemanticBackend):
    """The ``redis`` backend plus a vector index (see the module docstring).

    Takes every option of :class:`~cachekit_redis.RedisBackend` plus
    ``semantic_index`` (``"auto"``, ``"mirror"`` or ``"search"``),
    ``semantic_prefix`` (where index keys live, default ``cachekit:semantic:v1:``)
    and ``semantic_max_partitions`` (how many partitions one process mirrors at
    most, least recently used dropped first; default 256).
    """

    semantic: ClassVar[bool] = True
    #: The options the core routes here: every keyword of ``RedisBackend`` plus the
    #: three below (set after the class; ``**options`` alone would declare nothing).
    __signature__: ClassVar[inspect.Signature]

    def __init__(
        self,
        *,
        semantic_index: str = "auto",
        semantic_prefix: str = DEFAULT_SEMANTIC_PREFIX,
        semantic_max_partitions: int = 256,
        **options: Any,
    ) -> None:
        if semantic_index not in _ENGINES:
            raise ConfigurationError(
                f"redis-semantic: semantic_index must be one of {', '.join(_ENGINES)}, "
                f"got {semantic_index!r}"
            )
        if not isinstance(semantic_prefix, str) or not semantic_prefix or "{" in semantic_prefix:
            raise ConfigurationError(
                "redis-semantic: semantic_prefix must be a non-empty string without '{'"
            )
        if (
            isinstance(semantic_max_partitions, bool)
            or not isinstance(semantic_max_partitions, int)
            or semantic_max_partitions < 1
        ):
            raise ConfigurationError(
                "redis-semantic: semantic_max_partitions must be a positive integer, "
                f"got {semantic_max_partitions!r}"
            )
        super().__init__(**options)
        self._requested: str = semantic_index
        self._engine: Engine | None = None if semantic_index == "auto" else semantic_index  # type: ignore[assignment]
        self._prefix = semantic_prefix
        self._mirrors = MirrorSet(semantic_max_partitions)
        self._ft_dims: set[int] = set()

    def __repr__(self) -> str:
        return f"RedisSemanticBackend({self.settings.describe()!r}, index={self.index_engine})"

    @property
    def index_engine(self) -> Engine | None:
        """``"mirror"`` or ``"search"``; ``None`` until ``auto`` has asked the server."""
        return self._engine

    # -- engine choice ------------------------------------------------------------------
    async def _engine_for(self, client: Client) -> Engine:
        if self._engine is not None:
            return self._engine
        if isinstance(client, RedisCluster):
            # An OSS Cluster's search module indexes one shard only (no coordinator).
            self._engine = "mirror"
            return self._engine
        try:
            raw: Any = client
            await raw.execute_command("FT._LIST")
        except ResponseError:
            self._engine = "mirror"  # "unknown command": no search module
        except Exception as exc:
            self._fail("FT._LIST", exc)
        else:
            self._engine = "search"
        assert self._engine is not None
        return self._engine

    def _names(self, pid: str, dim: int) -> list[str]:
        base = f"{self._prefix}{{{pid}:{dim}}}"
        return [f"{base}:h", f"{base}:x", f"{base}:s", f"{base}:g"]

    # -- lookups -------------------------------------------------------------------------
    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        query = _as_vector(vector)
        pid = partition_id(partition)
        client = await self._client()
        if await self._engine_for(client) == "search":
            return await self._ft_search(client, pid, query, threshold)
        dim = int(query.size)
        mirror = self._mirrors.get(pid, dim)
        now = await self._sync(client, mirror, self._names(pid, dim))
        if mirror.cells >= _OFFLOAD_CELLS:
            found = await anyio.to_thread.run_sync(_best, mirror, query, threshold, now)
        else:
            found = _best(mirror, query, threshold, now)
        return None if found is None else SemanticMatch(found[0], found[1])

    async def _sync(self, client: Client, mirror: PartitionMirror, names: list[str]) -> float:
        """Bring ``mirror`` up to date; return the server time (ms)."""
        h, _, s, g = names
        reloads = 0
        # Only this call's own reloads use up the budget: a sync cut short because a
        # concurrent task reloaded the mirror (many first lookups at once) just retries
        # from the fresher state, within a bounded number of rounds.
        for _ in range(_MAX_SYNC_ROUNDS):
            with mirror.lock:
                loaded, epoch, cursor, gen = mirror.loaded, mirror.epoch, mirror.cursor, mirror.gen
            if not loaded:
                if reloads == _MAX_RELOADS:
                    break
                reloads += 1
                await self._reload(client, mirror, names)
                continue
            while True:
                try:
                    reply = await SYNC(client, [h, s, g], [cursor, gen, _SYNC_BATCH])
                except Exception as exc:
                    self._fail("EVALSHA (semantic sync)", exc)
                now = float(reply[0])
                if reply[1] == b"reset":
                    with mirror.lock:
                        if mirror.epoch == epoch:
                            mirror.loaded = False
                    break
                last = reply[2].decode()
                changes = [
                    (key.decode(), None if raw is None else parse_record(raw, mirror.dim))
                    for key, raw in zip(reply[4], reply[5], strict=True)
                ]
                with mirror.lock:
                    if mirror.epoch != epoch:
                        break  # reloaded meanwhile: start over from its state
                    mirror.apply(last, changes)
                if int(reply[3]) < _SYNC_BATCH:
                    return now
                cursor = last
        raise BackendError("redis-semantic: the partition index kept changing; try again")

    async def _reload(self, client: Client, mirror: PartitionMirror, names: list[str]) -> None:
        h, _, s, g = names
        try:
            now, gen, last = await SNAPSHOT(client, [s, g], [])
            records: dict[str, tuple[float, Vector]] = {}
            if gen:
                cursor = 0
                while True:
                    cursor, page = await _hscan(client, h, cursor)
                    for key, raw in page.items():
                        parsed = parse_record(raw, mirror.dim)
                        if parsed is not None and parsed[0] > float(now):
                            records[key.decode()] = parsed
                    if cursor == 0:
                        break
        except Exception as exc:
            self._fail("semantic reload (HSCAN)", exc)
        with mirror.lock:
            mirror.reload(gen.decode(), last.decode(), records)

    async def _ft_search(
        self, client: Client, pid: str, query: Vector, threshold: float
    ) -> SemanticMatch | None:
        dim = int(query.size)
        try:
            reply = await client.execute_command(
                *search_args(self._prefix, dim, pid, query.tobytes())
            )
        except ResponseError as exc:
            if is_missing_index(exc):
                return None
            self._fail("FT.SEARCH", exc)
        except Exception as exc:
            self._fail("FT.SEARCH", exc)
        found = parse_search_reply(reply, self._prefix, dim)
        if found is None or found[1] < threshold - SIMILARITY_SLACK:
            return None
        return SemanticMatch(found[0], min(found[1], 1.0))

    # -- writes ------------------------------------------------------------------------
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
        """Index several entries of one partition with one lifetime, in batches of 256
        per round trip (the bulk path for imports and benchmarks)."""
        if not items:
            return
        blobs = [(key, _as_vector(vector)) for key, vector in items]
        dim = int(blobs[0][1].size)
        if any(vec.size != dim for _, vec in blobs):
            raise BackendError("redis-semantic: index_many needs vectors of one dimension")
        pid = partition_id(partition)
        client = await self._client()
        if await self._engine_for(client) == "search":
            await self._ft_index(client, pid, dim, blobs, ttl)
            return
        names = self._names(pid, dim)
        ttl_arg = "" if ttl is None else str(_ms(ttl))
        for chunk in _chunks(blobs, _WRITE_BATCH):
            args: list[Any] = [ttl_arg, uuid.uuid4().hex, STREAM_MIN_LEN]
            for key, vec in chunk:
                args += [key, vec.tobytes()]
            try:
                await INDEX(client, names, args)
            except Exception as exc:
                self._fail("EVALSHA (semantic index)", exc)

    async def _ft_index(
        self,
        client: Client,
        pid: str,
        dim: int,
        blobs: Sequence[tuple[str, Vector]],
        ttl: float | None,
    ) -> None:
        try:
            if dim not in self._ft_dims:
                try:
                    await client.execute_command(*create_index_args(self._prefix, dim))
                except ResponseError as exc:
                    if "already exists" not in str(exc).lower():
                        raise
                self._ft_dims.add(dim)
            for chunk in _chunks(blobs, _WRITE_BATCH):
                pipe: Any = client.pipeline(transaction=False)
                for key, vec in chunk:
                    name = doc_key(self._prefix, dim, key)
                    pipe.hset(name, mapping={"p": pid, "v": vec.tobytes()})
                    if ttl is None:
                        pipe.persist(name)
                    else:
                        pipe.pexpire(name, _ms(ttl))
                await pipe.execute()
        except Exception as exc:
            self._fail("FT index (HSET)", exc)

    async def clear(self, prefix: str) -> int:
        """Remove the entries under ``prefix`` and their index entries."""
        removed = await super().clear(prefix)
        client = await self._client()
        try:
            if await self._engine_for(client) == "search":
                await self._ft_clear(client, prefix)
            else:
                await self._mirror_clear(client, prefix)
        except BackendError:
            raise
        except Exception as exc:
            self._fail("semantic clear", exc)
        return removed

    async def _mirror_clear(self, client: Client, prefix: str) -> None:
        hashes = _scan_pattern(self._prefix)[:-1] + b"{*}:h"
        match = _scan_pattern(prefix)
        raw_prefix = prefix.encode()
        async for name in client.scan_iter(match=hashes, count=self.settings.scan_count):
            keys = [
                key
                async for key, _ in client.hscan_iter(name, match=match, count=1000)
                if key.startswith(raw_prefix)
            ]
            base = name.decode()[: -len(":h")]
            for chunk in _chunks(keys, _WRITE_BATCH):
                await REMOVE(
                    client, [f"{base}:h", f"{base}:x", f"{base}:s"], [STREAM_MIN_LEN, *chunk]
                )

    async def _ft_clear(self, client: Client, prefix: str) -> None:
        docs = _scan_pattern(self._prefix + "doc:")
        start = (self._prefix + "doc:").encode()
        doomed: list[bytes] = []
        async for name in client.scan_iter(match=docs, count=self.settings.scan_count):
            _, _, rest = name[len(start) :].partition(b":")  # <dim>:<entry key>
            if rest.startswith(prefix.encode()):
                doomed.append(name)
        for chunk in _chunks(doomed, 500):
            await client.unlink(*chunk)

    async def aclose(self) -> None:
        self._mirrors.clear()
        await super().aclose()


async def _hscan(client: Client, name: str, cursor: int) -> tuple[int, dict[bytes, bytes]]:
    raw: Any = client
    result: tuple[int, dict[bytes, bytes]] = await raw.hscan(name, cursor, count=1000)
    return result


def _declared_options() -> inspect.Signature:
    inherited = list(inspect.signature(RedisBackend).parameters.values())
    own = [
        p
        for p in inspect.signature(RedisSemanticBackend.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    return inspect.Signature([*inherited, *own])


RedisSemanticBackend.__signature__ = _declared_options()


def _best(
    mirror: PartitionMirror, query: Vector, threshold: float, now: float
) -> tuple[str, float] | None:
    with mirror.lock:
        return mirror.best(query, threshold, now)
