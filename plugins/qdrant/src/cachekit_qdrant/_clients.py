"""Reaching Qdrant from any event loop (and from trio, in local mode).

*Local mode* (``AsyncQdrantLocal``) keeps every point in the client object and does
its work synchronously inside ``async def`` methods, so awaiting it directly would
stall the event loop for a whole brute-force scan (and, with ``qdrant_path``, for
SQLite writes). :class:`LocalRunner` therefore owns one client and one private
event loop, and runs each operation on that loop in a worker thread, one at a
time: the caller's loop stays free, and every loop (or trio) sees the same points.

*Server mode* uses httpx connections that belong to the loop that opened them, so
:class:`RemoteClients` keeps one ``AsyncQdrantClient`` per running asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from cachekit import BackendError
from qdrant_client import AsyncQdrantClient

from cachekit_qdrant._config import QdrantSettings

__all__ = ["LocalRunner", "Operation", "RemoteClients"]

T = TypeVar("T")
Operation = Callable[[AsyncQdrantClient], Awaitable[T]]


class LocalRunner:
    """One embedded-mode client, driven from worker threads one operation at a time."""

    def __init__(self, settings: QdrantSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._client: AsyncQdrantClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self, operation: Operation[T]) -> T:
        with self._lock:
            if self._client is None or self._loop is None:
                location = self._settings.location
                # Opening a path reads it from disk: done here, in the worker thread.
                self._client = (
                    AsyncQdrantClient(location=location)
                    if location == ":memory:"
                    else AsyncQdrantClient(path=location, force_disable_check_same_thread=True)
                )
                self._loop = asyncio.new_event_loop()
            client, loop = self._client, self._loop

            async def run() -> T:
                return await operation(client)

            return loop.run_until_complete(run())

    async def call(self, operation: Operation[T]) -> T:
        return await anyio.to_thread.run_sync(self._run, operation, abandon_on_cancel=True)

    def _close(self) -> None:
        with self._lock:
            client, loop = self._client, self._loop
            self._client = self._loop = None
            if client is not None and loop is not None:
                try:
                    loop.run_until_complete(client.close())
                finally:
                    loop.close()

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._close)


class RemoteClients:
    """One server client per running asyncio loop, created on first use in that loop."""

    def __init__(self, settings: QdrantSettings) -> None:
        self._settings = settings
        self._clients: dict[asyncio.AbstractEventLoop, AsyncQdrantClient] = {}
        self._lock = threading.Lock()

    def get(self) -> AsyncQdrantClient:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise BackendError(
                "qdrant-semantic talks to a server on asyncio only (local mode also runs on trio)"
            ) from None
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                for old in [lp for lp in self._clients if lp.is_closed()]:
                    del self._clients[old]
                s = self._settings
                client = self._clients[loop] = AsyncQdrantClient(
                    url=s.api_base,
                    api_key=s.api_key,
                    timeout=s.timeout,
                    check_compatibility=False,  # no version probe from the constructor
                )
            return client

    async def call(self, operation: Operation[T]) -> T:
        return await operation(self.get())

    async def aclose(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, client in clients.items():
            if loop is current:
                await client.close()
            elif loop.is_running() and not loop.is_closed():
                future = asyncio.run_coroutine_threadsafe(client.close(), loop)
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(future.result, 1.0)
