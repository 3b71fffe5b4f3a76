"""Building redis-py clients from :class:`RedisSettings`, one per event loop.

redis-py's asyncio connections belong to the loop that opened them, while a
cachekit backend may be used from several loops over its life (the sync face of
``Cache`` runs on its own loop thread). :class:`LoopClients` therefore keeps one
client per running loop, created lazily; the common case (the same loop as last
time) is one identity check.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import Any, TypeAlias, cast

import anyio
from cachekit import BackendError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cachekit_redis._coalesce import FetchOne, ReadCoalescer
from cachekit_redis._config import RedisSettings

__all__ = ["Client", "Handle", "LoopClients", "build_client", "demote_on_failure", "node_of"]

Client: TypeAlias = "Redis | RedisCluster"

#: How long ``aclose`` waits for a client that lives on another, still running loop.
_FOREIGN_CLOSE_TIMEOUT = 1.0


def node_of(cluster: RedisCluster, key: str) -> str | None:
    """The name (``host:port``) of the node serving ``key``'s slot in the client's
    current slot map, or ``None`` before discovery. No I/O: one CRC16 and two lookups."""
    try:
        nodes = cluster.nodes_manager.slots_cache.get(key_slot(key.encode()))
    except UnicodeEncodeError:
        return None
    return nodes[0].name if nodes else None


def demote_on_failure(cluster: RedisCluster, keys: Sequence[str], exc: BaseException) -> None:
    """After a batch to one node failed to connect (or timed out), move that node to the
    end of the client's node list, as redis-py does itself for single commands. Its
    batch path does not, and the next topology refresh then picks the dead node as the
    default node: the refresh fails on it and takes every later operation down with it,
    healthy nodes' included, until the failover."""
    if not isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return
    nodes = {node_of(cluster, key) for key in keys}
    if len(nodes) == 1 and (name := nodes.pop()) is not None:
        cluster.nodes_manager.move_node_to_end_of_cached_nodes(name)


async def _mget_one_node(cluster: RedisCluster, keys: list[str]) -> list[bytes | None]:
    try:
        return cast("list[bytes | None]", await cluster.mget_nonatomic(keys))
    except Exception as exc:  # demote at once, before a sibling batch refreshes the topology
        demote_on_failure(cluster, keys, exc)
        raise


async def _mget_by_node(
    cluster: RedisCluster, keys: Sequence[str]
) -> Sequence[bytes | BaseException | None]:
    """``MGET`` per node, concurrently; a node's failure is the value of its keys only,
    so a dead node does not fail reads of keys that live on healthy ones."""
    groups: dict[str | None, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(node_of(cluster, key), []).append(index)
    if len(groups) == 1:
        return await _mget_one_node(cluster, list(keys))
    parts = list(groups.values())
    replies = await asyncio.gather(
        *(_mget_one_node(cluster, [keys[i] for i in part]) for part in parts),
        return_exceptions=True,
    )
    out: list[bytes | BaseException | None] = [None] * len(keys)
    for part, reply in zip(parts, replies, strict=True):
        for n, index in enumerate(part):
            out[index] = reply if isinstance(reply, BaseException) else reply[n]
    return out


class Handle:
    """A client plus what must be closed with it (Sentinel's own connections).

    ``ready`` is false until :meth:`prepare` ran: a Cluster client must learn the
    slot map before concurrent use. (redis-py 8.1's lazy initialisation, entered by
    many tasks at once, recycles connections other tasks are still opening; the
    first operation then fails with "Connection lost". Initialising once, with the
    other tasks waiting outside the client, avoids it.)
    """

    __slots__ = ("_lock", "client", "reads", "ready", "sentinel")

    def __init__(self, client: Client, sentinel: Sentinel | None = None) -> None:
        self.client = client
        self.sentinel = sentinel
        self.ready = not isinstance(client, RedisCluster)
        #: Coalesces concurrent single-key reads (set on the handle's loop), or None.
        self.reads: ReadCoalescer | None = None
        self._lock: asyncio.Lock | None = None

    def coalesce_reads(self) -> None:
        """Route ``get`` through a :class:`ReadCoalescer` (call on the handle's loop)."""
        client = self.client
        if isinstance(client, RedisCluster):
            cluster = client

            async def fetch_many(keys: Sequence[str]) -> Sequence[bytes | BaseException | None]:
                return await _mget_by_node(cluster, keys)

        else:
            standalone = client

            async def fetch_many(keys: Sequence[str]) -> Sequence[bytes | BaseException | None]:
                return cast("list[bytes | None]", await standalone.mget(list(keys)))

        # The bound method returns redis-py's coroutine directly: no extra frame per read.
        self.reads = ReadCoalescer(cast("FetchOne", client.get), fetch_many)

    async def prepare(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.ready:
                assert isinstance(self.client, RedisCluster)
                await self.client.initialize()
                self.ready = True

    async def aclose(self) -> None:
        try:
            if self.reads is not None:
                await self.reads.aclose()
        finally:
            try:
                await self.client.aclose()
            finally:
                if self.sentinel is not None:
                    await self.sentinel.aclose()


def _connection_kwargs(s: RedisSettings) -> dict[str, Any]:
    """Keyword arguments shared by every mode's connections."""
    kwargs: dict[str, Any] = {
        "username": s.username,
        "password": s.password,
        "socket_timeout": s.socket_timeout,
        "socket_connect_timeout": s.socket_connect_timeout,
        "health_check_interval": s.health_check_interval,
        "retry": Retry(NoBackoff(), s.retries),
        # RESP2: every Redis (and Valkey, KeyDB, ElastiCache…) speaks it; cachekit
        # needs no RESP3 feature.
        "protocol": 2,
    }
    if s.client_name is not None:
        kwargs["client_name"] = s.client_name
    return kwargs


def _standalone(s: RedisSettings) -> Handle:
    kwargs = _connection_kwargs(s)
    kwargs["db"] = s.db
    if s.unix_socket_path is not None:
        kwargs["unix_socket_path"] = s.unix_socket_path
    else:
        kwargs.update(host=s.host, port=s.port, ssl=s.ssl)
        if s.ssl:
            kwargs.update(s.ssl_options)
    client = Redis(**kwargs)  # redis-py's own pool: unbounded, like the raw client
    if s.max_connections is None:
        return Handle(client)
    # A bounded pool makes extra tasks wait for a connection (bounded by the core's
    # per-operation timeout) instead of failing with "Too many connections". Built
    # from the unbounded pool's settings so redis-py normalises the options once.
    template = client.connection_pool
    pool = BlockingConnectionPool(
        max_connections=s.max_connections,
        timeout=None,
        connection_class=template.connection_class,
        **template.connection_kwargs,
    )
    return Handle(Redis.from_pool(pool))


def _cluster(s: RedisSettings) -> Handle:
    kwargs = _connection_kwargs(s)
    # No retry inside the cluster client: its pipeline retry (MGET batches, set_many)
    # closes every node's connections and sleeps 0.25 s, failing healthy nodes' work in
    # flight when one node dies. A failed operation instead marks the slot map for a
    # refresh, and the next one (or the breaker's next probe) runs on the new map.
    kwargs["retry"] = Retry(NoBackoff(), 0)
    kwargs.update(
        startup_nodes=[ClusterNode(host, port) for host, port in s.nodes],
        # Per node; the async cluster fails (it does not wait) beyond it.
        max_connections=s.max_connections or 2**31,
        ssl=s.ssl,
    )
    if s.ssl:
        kwargs.update(s.ssl_options)
    return Handle(RedisCluster(**kwargs))


def _sentinel(s: RedisSettings) -> Handle:
    assert s.service_name is not None
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": s.socket_timeout,
        "socket_connect_timeout": s.socket_connect_timeout,
        "protocol": 2,
    }
    if s.sentinel_username is not None:
        sentinel_kwargs["username"] = s.sentinel_username
    if s.sentinel_password is not None:
        sentinel_kwargs["password"] = s.sentinel_password
    if s.ssl:
        sentinel_kwargs["ssl"] = True
        sentinel_kwargs.update(s.ssl_options)
    sentinel = Sentinel(list(s.nodes), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    kwargs = _connection_kwargs(s)
    kwargs["db"] = s.db
    if s.max_connections is not None:
        kwargs["max_connections"] = s.max_connections
    if s.ssl:
        kwargs["ssl"] = True
        kwargs.update(s.ssl_options)
    client = sentinel.master_for(s.service_name, **kwargs)
    return Handle(client, sentinel)


def build_client(settings: RedisSettings) -> Handle:
    """A new client for ``settings`` (no I/O: connections open on first use)."""
    if settings.mode == "cluster":
        return _cluster(settings)
    if settings.mode == "sentinel":
        return _sentinel(settings)
    return _standalone(settings)


class LoopClients:
    """One client per running asyncio loop, created on first use in that loop."""

    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings
        self._handles: dict[asyncio.AbstractEventLoop, Handle] = {}
        # (loop, handle) of the last lookup, swapped as one object so that threads
        # running different loops never see a mismatched pair.
        self._last: tuple[asyncio.AbstractEventLoop | None, Handle | None] = (None, None)
        self._lock = threading.Lock()

    def get(self) -> Handle:
        """The client handle for the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise BackendError(
                "the redis backend runs on asyncio (redis-py has no trio support)"
            ) from None
        last_loop, last = self._last
        if last_loop is loop and last is not None:
            return last
        with self._lock:
            handle = self._handles.get(loop)
            if handle is None:
                for old in [lp for lp in self._handles if lp.is_closed()]:
                    # Its loop is gone, so its sockets can no longer be closed politely.
                    del self._handles[old]
                handle = self._handles[loop] = build_client(self._settings)
                if self._settings.coalesce_reads:
                    handle.coalesce_reads()
            self._last = (loop, handle)
            return handle

    async def aclose(self) -> None:
        """Close every client: on this loop directly, on other running loops through
        that loop (briefly waited for). Idempotent; a later ``get`` opens a new client."""
        with self._lock:
            handles, self._handles = self._handles, {}
            self._last = (None, None)
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        errors: list[BaseException] = []
        for loop, handle in handles.items():
            try:
                if loop is current:
                    await handle.aclose()
                elif loop.is_running() and not loop.is_closed():
                    future = asyncio.run_coroutine_threadsafe(handle.aclose(), loop)
                    with contextlib.suppress(TimeoutError):
                        await anyio.to_thread.run_sync(future.result, _FOREIGN_CLOSE_TIMEOUT)
            except Exception as exc:  # close the others, report the first
                errors.append(exc)
        if errors:
            raise errors[0]
