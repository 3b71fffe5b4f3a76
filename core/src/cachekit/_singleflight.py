"""In-process single-flight: concurrent identical misses make one provider call.

The first caller of a key (the leader) runs the work; callers arriving while it
runs (followers) wait and receive the same result or the same exception. If the
leader is cancelled, followers are not stranded: they wake up and one of them
becomes the new leader. Async callers coordinate per event loop through anyio
events; sync callers (threads) through threading events.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["AsyncSingleFlight", "SyncSingleFlight"]

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("abandoned", "done", "error", "result")

    def __init__(self, done: Any) -> None:
        self.done = done
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False


class AsyncSingleFlight:
    def __init__(self) -> None:
        self._flights: dict[tuple[int, str], _Flight[Any]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        slot = (_loop_id(), key)
        while True:
            flight = self._flights.get(slot)
            if flight is None:
                break
            await flight.done.wait()
            if flight.abandoned:
                continue  # the leader was cancelled: try to lead
            if flight.error is not None:
                raise flight.error
            return flight.result  # type: ignore[no-any-return]
        flight = _Flight[T](anyio.Event())
        self._flights[slot] = flight
        try:
            flight.result = await work()
            return flight.result  # type: ignore[no-any-return]
        except anyio.get_cancelled_exc_class():
            flight.abandoned = True
            raise
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[slot]
            flight.done.set()


def _loop_id() -> int:
    """Identify the running event loop, so flights (and their events) never cross loops."""
    try:
        import asyncio  # already loaded when an asyncio loop runs

        return id(asyncio.get_running_loop())
    except RuntimeError:  # not asyncio, so trio (anyio's only other backend)
        import trio

        return id(trio.lowlevel.current_trio_token())


class SyncSingleFlight:
    def __init__(self) -> None:
        self._flights: dict[str, _Flight[Any]] = {}
        self._lock = threading.Lock()

    def run(self, key: str, work: Callable[[], T]) -> T:
        while True:
            with self._lock:
                flight = self._flights.get(key)
                if flight is None:
                    flight = _Flight[T](threading.Event())
                    self._flights[key] = flight
                    leader = True
                else:
                    leader = False
            if leader:
                break
            flight.done.wait()
            if flight.abandoned:
                continue
            if flight.error is not None:
                raise flight.error
            return flight.result  # type: ignore[no-any-return]
        try:
            flight.result = work()
            return flight.result  # type: ignore[no-any-return]
        except BaseException as exc:
            if isinstance(exc, Exception):
                flight.error = exc
            else:  # KeyboardInterrupt, SystemExit: let another thread lead
                flight.abandoned = True
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
