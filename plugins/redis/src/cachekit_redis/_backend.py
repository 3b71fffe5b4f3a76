"""The ``redis`` backend: standalone Redis, Redis Cluster or Sentinel.

Every read is one round trip (``GET``; ``MGET`` for a batch, one per hash slot on
a Cluster, sent to the nodes concurrently); a batch write is one pipeline of
``SET … PX``; lifetimes are milliseconds on the server (``PX``), and ``None``
means no expiry. ``clear(prefix)`` walks ``SCAN MATCH`` and ``UNLINK``s in batches,
never ``KEYS``; ``scan(prefix)`` walks the same ``SCAN MATCH`` cursor. The connect timeout is short, the core's per-operation timeout
bounds everything else, and there is at most one immediate retry, so a dead Redis
costs at most that timeout and the client reconnects by itself when Redis returns.
Concurrent single-key reads are coalesced into ``MGET``s (``_coalesce``). The backend
can lock (``acquire``/``renew``/``release``/``wait``, see ``_locks``), so
``Cache(single_flight="distributed")`` makes one provider call across processes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn, cast

from cachekit import (
    AsyncBackend,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    Usage,
)
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import RedisClusterException
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)

from cachekit_redis import _locks
from cachekit_redis._clients import Client, LoopClients, demote_on_failure, node_of
from cachekit_redis._config import RedisSettings, settings_from_options

__all__ = ["RedisBackend"]

_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")
_MAX_MESSAGE = 200
#: How long a release's wake-up stays for waiters that arrive just after it (seconds).
_LINGER = 10.0


def _ms(ttl: float) -> int:
    """Seconds → whole milliseconds for ``PX`` (0.5 → 500; never 0)."""
    return max(1, round(ttl * 1000))


def _scan_pattern(prefix: str) -> bytes:
    """A ``SCAN MATCH`` pattern for keys starting with ``prefix`` (glob-escaped)."""
    return _GLOB_SPECIAL.sub(rb"\\\1", prefix.encode()) + b"*"


class RedisBackend(AsyncBackend):
    """Stores cachekit entries in Redis (standalone, Cluster or Sentinel).

    Options use LiteLLM's names: ``host``, ``port``, ``password``, ``username``,
    ``db``, ``url`` (``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``,
    ``redis+sentinel://``), ``ssl`` and ``ssl_*``, ``max_connections`` (pool size),
    ``startup_nodes``/``redis_startup_nodes`` (Cluster), ``sentinel_nodes`` +
    ``service_name`` (+ ``sentinel_password``), ``default_in_redis_ttl``;
    fail-fast knobs ``socket_connect_timeout`` (0.5 s), ``socket_timeout`` (none:
    ``Cache(timeout=)`` bounds each operation), ``retries`` (1, immediate; none on a Cluster) and ``health_check_interval`` (30 s); ``scan_count``
    (keys per ``SCAN`` step in ``clear``); ``coalesce_reads`` (on: concurrent
    single-key reads share one ``MGET``, see ``cachekit_redis._coalesce``). Unset options fall back to ``REDIS_URL``,
    ``REDIS_HOST``/``REDIS_PORT``/``REDIS_PASSWORD``… (see ``cachekit_redis._config``).
    ``redis_flush_size`` is accepted for LiteLLM compatibility and has no effect:
    writes are never buffered. Raises :class:`cachekit.ConfigurationError` for bad
    options, before any I/O. Runs on asyncio (one client per event loop).
    """

    native_ttl: ClassVar[bool] = True
    #: Distributed single-flight: a lock per entry key (see ``cachekit_redis._locks``).
    can_lock: ClassVar[bool] = True
    #: Every process connected to the server sees the same keys (and shared counters).
    shared = True

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | str | None = None,
        password: str | None = None,
        username: str | None = None,
        db: int | str | None = None,
        url: str | None = None,
        ssl: bool | str | None = None,
        ssl_cert_reqs: str | None = None,
        ssl_ca_certs: str | None = None,
        ssl_ca_data: str | None = None,
        ssl_ca_path: str | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ssl_password: str | None = None,
        ssl_check_hostname: bool | str | None = None,
        ssl_min_version: Any = None,
        ssl_ciphers: str | None = None,
        max_connections: int | str | None = None,
        socket_timeout: float | str | None = None,
        socket_connect_timeout: float | str | None = None,
        health_check_interval: float | str | None = None,
        retries: int | str | None = None,
        client_name: str | None = None,
        startup_nodes: Any = None,
        redis_startup_nodes: Any = None,
        sentinel_nodes: Any = None,
        service_name: str | None = None,
        sentinel_username: str | None = None,
        sentinel_password: str | None = None,
        default_in_redis_ttl: float | str | None = None,
        redis_flush_size: int | str | None = None,
        scan_count: int | str | None = None,
        coalesce_reads: bool | str | None = None,
    ) -> None:
        options = dict(locals())
        del options["self"]
        options.pop("__class__", None)
        self.settings: RedisSettings = settings_from_options(options)
        self.default_ttl = self.settings.default_ttl
        self._clients = LoopClients(self.settings)
        # Lock waiters block on connections of their own (no socket timeout: the core
        # bounds each wait), never on the pool other operations use.
        self._waiters = LoopClients(
            dataclasses.replace(
                self.settings, socket_timeout=None, max_connections=None, coalesce_reads=False
            )
        )
        self._cluster = self.settings.mode == "cluster"

    def __repr__(self) -> str:
        return f"RedisBackend({self.settings.describe()!r})"

    # -- errors --------------------------------------------------------------------
    def _fail(self, op: str, exc: Exception) -> NoReturn:
        """Raise ``exc`` as cachekit's error (never with credentials or stored bytes)."""
        where = self.settings.describe()
        detail = str(exc).splitlines()[0] if str(exc) else ""
        if len(detail) > _MAX_MESSAGE:
            detail = detail[:_MAX_MESSAGE] + "…"
        message = f"redis {op} on {where} failed: {type(exc).__name__}: {detail}"
        if isinstance(exc, RedisTimeoutError | TimeoutError):
            raise BackendTimeoutError(message) from exc
        if isinstance(exc, RedisConnectionError | RedisClusterException | OSError):
            raise BackendUnavailableError(message) from exc
        raise BackendError(message) from exc

    async def _client(self, clients: LoopClients | None = None) -> Client:
        handle = (self._clients if clients is None else clients).get()
        if not handle.ready:
            try:
                await handle.prepare()
            except Exception as exc:
                self._fail("cluster discovery", exc)
        return handle.client

    def fault_domain(self, key: str) -> Hashable | None:
        """On a Cluster, the node serving ``key``'s slot (``"host:port"``, from the
        client's slot map: no I/O), so the core keeps one circuit breaker per node and a
        dead master stops caching only on its own slots. After a failover the client's
        next topology refresh maps the slot to the promoted replica: a new domain, with a
        closed breaker. ``None`` (one breaker) for standalone and Sentinel."""
        if not self._cluster:
            return None
        try:
            handle = self._clients.get()
        except BackendError:  # not on asyncio: the operation itself will say so
            return None
        return node_of(cast("RedisCluster", handle.client), key)

    # -- primitives ----------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        handle = self._clients.get()
        if not handle.ready:
            await self._client()
        reads = handle.reads
        try:
            if reads is not None:
                return await reads.get(key)
            return cast("bytes | None", await handle.client.get(key))
        except Exception as exc:
            self._fail("GET", exc)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        client = await self._client()
        try:
            if ttl is None:
                await client.set(key, value)
            else:
                await client.set(key, value, px=_ms(ttl))
        except Exception as exc:
            self._fail("SET", exc)

    async def delete(self, key: str) -> bool:
        client = await self._client()
        try:
            removed: int = await client.unlink(key)
        except Exception as exc:
            self._fail("UNLINK", exc)
        return removed > 0

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        client = await self._client()
        try:
            if isinstance(client, RedisCluster):
                # One MGET per hash slot, pipelined to every node at once, in order.
                values = await client.mget_nonatomic(list(keys))
            else:
                values = await client.mget(list(keys))
        except Exception as exc:
            if isinstance(client, RedisCluster):
                demote_on_failure(client, keys, exc)
            self._fail("MGET", exc)
        return cast("list[bytes | None]", values)

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        if not mapping:
            return
        client = await self._client()
        px = None if ttl is None else _ms(ttl)
        try:
            pipe: Any = client.pipeline(transaction=False)
            for key, value in mapping.items():
                pipe.set(key, value, px=px)
            await pipe.execute()
        except Exception as exc:
            if isinstance(client, RedisCluster):
                demote_on_failure(client, list(mapping), exc)
            self._fail("SET (pipeline)", exc)

    async def clear(self, prefix: str) -> int:
        client = await self._client()
        raw_prefix = prefix.encode()
        batch_size = self.settings.scan_count
        removed = 0
        batch: list[bytes] = []
        try:
            async for key in client.scan_iter(match=_scan_pattern(prefix), count=batch_size):
                if key.startswith(raw_prefix):
                    batch.append(key)
                if len(batch) >= batch_size:
                    removed += await client.unlink(*batch)
                    batch = []
            if batch:
                removed += await client.unlink(*batch)
        except Exception as exc:
            self._fail("SCAN/UNLINK", exc)
        return removed

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        """Keys starting with ``prefix``, page by page (``SCAN MATCH``, ``scan_count``
        keys a step; every primary of a Cluster). ``SCAN`` may return a key twice."""
        client = await self._client()
        raw_prefix = prefix.encode()
        keys = client.scan_iter(match=_scan_pattern(prefix), count=self.settings.scan_count)
        try:
            while True:
                try:
                    key = await keys.__anext__()
                except StopAsyncIteration:
                    return
                except Exception as exc:
                    self._fail("SCAN", exc)
                if not key.startswith(raw_prefix):
                    continue
                try:
                    text = key.decode()
                except UnicodeDecodeError:  # not a key cachekit wrote (its keys are str)
                    continue
                yield text
        finally:
            close = getattr(keys, "aclose", None)
            if close is not None:
                await close()

    # -- the lock capability (distributed single-flight) ---------------------------
    async def acquire(self, name: str, lease: float) -> str | None:
        result: str | None = await self._locking("acquire", _locks.acquire, name, lease)
        return result

    async def renew(self, name: str, token: str, lease: float) -> bool:
        return bool(await self._locking("renew", _locks.renew, name, token, lease))

    async def release(self, name: str, token: str) -> bool:
        return bool(await self._locking("release", _locks.release, name, token, _LINGER))

    async def wait(self, name: str, seconds: float) -> bool:
        # on a connection of its own: a blocked waiter never holds up other commands
        waited = await self._locking("wait", _locks.wait_for_release, name, seconds, wait=True)
        return bool(waited)

    async def _locking(self, op: str, run: Any, *args: Any, wait: bool = False) -> Any:
        client = await self._client(self._waiters if wait else None)
        try:
            return await run(client, *args)
        except Exception as exc:
            self._fail(f"lock {op}", exc)

    async def usage(self, prefix: str) -> Usage:
        """String keys under ``prefix`` and their value bytes: ``SCAN MATCH`` (every
        primary of a Cluster), then one pipeline of ``STRLEN`` + ``EXISTS`` per
        ``scan_count`` keys (a Cluster pipeline routes each key to its node). Keys
        ``SCAN`` repeats are counted once; keys that expire meanwhile, and keys of
        other types (a semantic index's hashes), are not counted."""
        seen: set[str] = set()
        entries = size = 0
        batch: list[str] = []
        async for key in self.scan(prefix):
            if key not in seen:
                seen.add(key)
                batch.append(key)
            if len(batch) >= self.settings.scan_count:
                entries, size = await self._sizes(batch, entries, size)
                batch = []
        if batch:
            entries, size = await self._sizes(batch, entries, size)
        return Usage(entries, size)

    async def _sizes(self, keys: list[str], entries: int, size: int) -> tuple[int, int]:
        client = await self._client()
        try:
            pipe: Any = client.pipeline(transaction=False)
            for key in keys:
                pipe.strlen(key)
                pipe.exists(key)
            replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            self._fail("STRLEN (pipeline)", exc)
        for length, exists in zip(replies[::2], replies[1::2], strict=True):
            if type(length) is int and exists == 1:
                entries += 1
                size += length
        return entries, size

    async def aclose(self) -> None:
        try:
            try:
                await self._clients.aclose()
            finally:
                await self._waiters.aclose()
        except Exception as exc:
            self._fail("close", exc)
