"""Read coalescing: concurrent single-key reads on one loop share one ``MGET``.

A read that finds no other read in flight is sent at once as a plain ``GET``, so a
lone or sequential caller pays nothing. Reads that arrive while another one is in
flight are queued and sent together, on the next turn of the event loop, as one
``MGET`` (one per hash slot on a Cluster, grouped by node: a node's failure fails
only the reads of its keys). Under load this replaces dozens of
client round trips, each with redis-py's per-command overhead, by one, which is
where a busy process spends its CPU. Several batches may be in flight at once, so
nothing waits behind a slow batch.

Each caller still waits only for its own answer and can be cancelled (by the
core's per-operation timeout) without disturbing the others; a batch whose callers
have all gone is cancelled too, so nothing lingers on a hung server. A failed batch
hands its error to every caller still waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

__all__ = ["FetchMany", "FetchOne", "ReadCoalescer"]

#: Values in key order; an exception in place of a value fails that key's read only.
FetchMany = Callable[[Sequence[str]], Awaitable[Sequence[bytes | BaseException | None]]]
FetchOne = Callable[[str], Awaitable[bytes | None]]


class _Batch:
    """Reads queued during one loop turn, and the task that fetches them."""

    __slots__ = ("items", "live", "task")

    def __init__(self) -> None:
        self.items: list[tuple[str, asyncio.Future[bytes | None]]] = []
        self.live = 0
        self.task: asyncio.Task[None] | None = None


class ReadCoalescer:
    """Coalesces ``get`` calls made on one event loop (create it on that loop)."""

    __slots__ = (
        "_fetch_many",
        "_fetch_one",
        "_loop",
        "_next",
        "_tasks",
        "inflight",
    )

    def __init__(self, fetch_one: FetchOne, fetch_many: FetchMany) -> None:
        self._fetch_one = fetch_one
        self._fetch_many = fetch_many
        self._loop = asyncio.get_running_loop()
        self._next: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Reads (single or batched) currently waiting for Redis.
        self.inflight = 0

    async def get(self, key: str) -> bytes | None:
        batch = self._next
        if self.inflight == 0 and batch is None:
            self.inflight += 1
            try:
                return await self._fetch_one(key)
            finally:
                self.inflight -= 1
        if batch is None:
            batch = self._next = _Batch()
            self._loop.call_soon(self._flush)
        future: asyncio.Future[bytes | None] = self._loop.create_future()
        batch.items.append((key, future))
        batch.live += 1
        try:
            return await future
        except asyncio.CancelledError:
            batch.live -= 1
            if batch.live == 0 and batch.task is not None:
                batch.task.cancel()  # nobody waits for this batch any more
            raise

    def _flush(self) -> None:
        batch, self._next = self._next, None
        if batch is None:
            return
        items = [(key, future) for key, future in batch.items if not future.done()]
        if not items:
            return
        self.inflight += 1  # counted from now, so readers arriving meanwhile queue up
        task = batch.task = self._loop.create_task(self._run(items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[str, asyncio.Future[bytes | None]]]) -> None:
        try:
            if len(batch) == 1:
                values: Sequence[bytes | BaseException | None] = [
                    await self._fetch_one(batch[0][0])
                ]
            else:
                values = await self._fetch_many([key for key, _ in batch])
            if len(values) != len(batch):
                raise RuntimeError(f"MGET returned {len(values)} values for {len(batch)} keys")
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                # Cancelled because every caller left, or because the client closes.
                error: BaseException = ConnectionError("the Redis client was closed")
            else:
                error = exc
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), value in zip(batch, values, strict=True):
                if future.done():
                    continue
                if isinstance(value, BaseException):
                    future.set_exception(value)
                else:
                    future.set_result(value)
        finally:
            self.inflight -= 1

    async def aclose(self) -> None:
        """Cancel batches in flight; callers still waiting get a connection error."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
