"""In-process single-flight: concurrent identical misses make one provider call.

The first caller of a key (the leader) runs the work; callers arriving while it
runs (followers) wait and receive the outcome. Two refinements:

* **Late followers.** A caller whose (slow) cache read missed *before* a leader
  stored its result, but that reaches the flight table after the flight ended,
  would call the provider again. Callers therefore take a :meth:`ticket` before
  their read; a flight that finished after the ticket was taken answers them too
  (its outcome is kept for a short while, bounded in number).
* **Own copies.** Every follower gets its own copy of the result (a mutation by
  one caller is never seen by another) and, on failure, a fresh exception chained
  to the leader's (so tracebacks do not grow with every waiter).

If the leader is cancelled, followers are not stranded: they wake up and one of
them becomes the new leader. Async callers coordinate per event loop through
anyio events; sync callers (threads) through threading events.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

__all__ = ["AsyncSingleFlight", "SyncSingleFlight", "own_copy"]

T = TypeVar("T")

#: Finished flights remembered for late followers (the oldest are forgotten first).
_RECENT = 1024


def own_copy(value: Any) -> Any:
    """A copy of ``value`` that another caller can mutate freely."""
    model_copy = getattr(value, "model_copy", None)
    try:
        if model_copy is not None:
            return model_copy(deep=True)
        return copy.deepcopy(value)
    except Exception:  # not copyable: share it (what the leader got)
        return value


def _fresh(error: BaseException) -> BaseException:
    """A new exception like ``error`` (same type, args and attributes), chained to it."""
    cls = type(error)
    try:
        fresh = cls.__new__(cls, *error.args)
        fresh.args = error.args
        if hasattr(error, "__dict__"):
            fresh.__dict__.update(error.__dict__)
    except Exception:
        return error
    fresh.__cause__ = error
    return fresh


class _Flight:
    __slots__ = ("abandoned", "done", "error", "result")

    def __init__(self, done: Any) -> None:
        self.done = done
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False

    def outcome(self) -> Any:
        if self.error is not None:
            raise _fresh(self.error)
        return own_copy(self.result)


class _Recent:
    """Outcomes of finished flights, by slot, with the sequence number they ended at."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self.last = 0
        self._done: OrderedDict[Any, tuple[int, _Flight]] = OrderedDict()

    def finished(self, slot: Any, flight: _Flight) -> None:
        self.last = next(self._seq)
        if flight.abandoned:
            return
        self._done[slot] = (self.last, flight)
        self._done.move_to_end(slot)
        while len(self._done) > _RECENT:
            self._done.popitem(last=False)

    def since(self, slot: Any, ticket: int | None) -> _Flight | None:
        if ticket is None:
            return None
        found = self._done.get(slot)
        return found[1] if found is not None and found[0] > ticket else None


class AsyncSingleFlight:
    def __init__(self) -> None:
        self._flights: dict[tuple[int, str], _Flight] = {}
        self._recent = _Recent()

    def ticket(self) -> int:
        """Take before the cache read; pass to :meth:`run`."""
        return self._recent.last

    async def run(self, key: str, work: Callable[[], Awaitable[T]], ticket: int | None = None) -> T:
        slot = (_loop_id(), key)
        while True:
            flight = self._flights.get(slot)
            if flight is None:
                finished = self._recent.since(slot, ticket)
                if finished is not None:
                    return finished.outcome()  # type: ignore[no-any-return]
                break
            await flight.done.wait()
            if flight.abandoned:
                continue  # the leader was cancelled: try to lead
            return flight.outcome()  # type: ignore[no-any-return]
        flight = _Flight(anyio.Event())
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
            self._recent.finished(slot, flight)
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
        self._flights: dict[str, _Flight] = {}
        self._recent = _Recent()
        self._lock = threading.Lock()

    def ticket(self) -> int:
        with self._lock:
            return self._recent.last

    def run(self, key: str, work: Callable[[], T], ticket: int | None = None) -> T:
        while True:
            with self._lock:
                current = self._flights.get(key)
                finished = None if current is not None else self._recent.since(key, ticket)
                if current is None and finished is None:
                    flight = self._flights[key] = _Flight(threading.Event())
                    break
            if finished is not None:
                return finished.outcome()  # type: ignore[no-any-return]
            assert current is not None
            current.done.wait()
            if current.abandoned:
                continue
            return current.outcome()  # type: ignore[no-any-return]
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
                self._recent.finished(key, flight)
            flight.done.set()
