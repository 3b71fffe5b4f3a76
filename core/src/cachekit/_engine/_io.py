"""The chokepoint every backend operation goes through: one-time set-up (outside the
per-operation timeout), the circuit breaker, the timeout, and error mapping — every
failure leaves as a :class:`~cachekit.CacheKitError`.

In-process (``inline``) backends skip the breaker, the timeout and the set-up: their
operations cannot hang and their failures are bugs, not outages. A caller's own
cancellation (a deadline, a client gone) counts as a failure and releases a
half-open probe, so a cancelled probe never keeps the circuit open.

Fault domains: a backend whose parts fail independently (a Redis Cluster's nodes)
names the part serving a key (:meth:`AsyncBackend.fault_domain`), and the keyed
operations (``get``, ``set``, ``delete``, ``get_many``, ``set_many``) run under that
domain's breaker (:class:`DomainBreakers`); everything else (``clear``, semantic
operations…) and keys whose domain is ``None`` use the backend's one breaker. A
batch spanning several domains is split into one sub-batch per domain, run
concurrently, each under its own breaker, so a dead node never opens the breaker of
a healthy one; if any sub-batch fails (or is refused by an open breaker) the batch
raises that error once the others finished (their writes have landed; a read's
values are dropped: the caller treats the batch as failed, fail-open).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio

from cachekit._engine._breaker import CircuitBreaker, DomainBreakers
from cachekit._storage._backend import AsyncBackend
from cachekit.exceptions import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
)

__all__ = ["CONNECT_TIMEOUT", "Chokepoint"]

T = TypeVar("T")

#: Operations whose first argument is one key, and those whose first is a batch of keys.
_ONE_KEY = frozenset({"get", "set", "delete"})
_BATCH = frozenset({"get_many", "set_many"})

#: Bound of a backend's one-time set-up (``AsyncBackend.connect``), in seconds.
CONNECT_TIMEOUT = 30.0


def _running_asyncio() -> bool:
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio.events._get_running_loop() is not None


def _asyncio_timeout(seconds: float) -> Any:
    import asyncio

    return asyncio.timeout(seconds)


class Chokepoint:
    """Runs the operations of one backend (see the module docstring)."""

    __slots__ = (
        "_connects",
        "_domain_of",
        "backend",
        "breaker",
        "breakers",
        "inline",
        "name",
        "timeout",
    )

    def __init__(
        self, backend: AsyncBackend, name: str, timeout: float | None, breaker: CircuitBreaker
    ) -> None:
        self.backend = backend
        self.name = name
        self.timeout = timeout
        #: The backend's one breaker (every operation, when it has no fault domains).
        self.breaker = breaker
        self.inline = backend.inline
        # Only backends with a set-up step pay for it: the bounded wait around even a
        # finished connect() costs ~11 µs per operation, 90 times a no-op operation.
        self._connects = type(backend).connect is not AsyncBackend.connect
        has_domains = type(backend).fault_domain is not AsyncBackend.fault_domain
        self._domain_of = backend.fault_domain if has_domains and not self.inline else None
        #: One breaker per fault domain, or None when the backend names none.
        self.breakers = DomainBreakers(breaker) if self._domain_of is not None else None

    def breaker_for(self, key: str) -> CircuitBreaker:
        """The breaker guarding operations on ``key`` (the backend's one breaker when the
        key has no domain, or when naming it fails: a backend bug must not break calls)."""
        if self._domain_of is None or self.breakers is None:
            return self.breaker
        try:
            domain = self._domain_of(key)
            return self.breaker if domain is None else self.breakers.get(domain)
        except Exception:
            return self.breaker

    async def run(
        self, op: str, call: Callable[..., Awaitable[T]], *args: Any, bound: float | None = None
    ) -> T:
        """Run one backend operation ``call(*args)`` named ``op``, bounded by the
        operation timeout (or by ``bound`` seconds: a lock ``wait`` blocks by design)."""
        if self.inline:
            try:
                return await call(*args)
            except Exception as exc:
                raise self.mapped(op, exc) from exc
        breaker = self.breaker
        if self._domain_of is not None:
            if op in _ONE_KEY:
                breaker = self.breaker_for(args[0])
            elif op in _BATCH:
                groups = self._groups(args[0])
                if len(groups) > 1:
                    return await self._split(op, call, args, groups)
                breaker = next(iter(groups))
        if not breaker.allow():
            raise BackendUnavailableError(
                f"{self.name} backend is failing; circuit open, skipping {op} without I/O"
            )
        try:
            if self._connects:
                await self._connect()
            limit = self.timeout if bound is None else bound
            if limit is None:
                result = await call(*args)
            elif _running_asyncio():
                # asyncio's own timeout costs a third of anyio.fail_after per operation
                async with _asyncio_timeout(limit):
                    result = await call(*args)
            else:
                with anyio.fail_after(limit):
                    result = await call(*args)
        except CacheKitError:
            breaker.failure()
            raise
        except TimeoutError:
            breaker.failure()
            raise BackendTimeoutError(f"{self.name} {op} took longer than {limit} s") from None
        except Exception as exc:
            breaker.failure()
            raise self.mapped(op, exc) from exc
        except BaseException:  # cancelled by the caller: release a probe, count it
            breaker.failure()
            raise
        breaker.success()
        return result

    def _groups(self, batch: Sequence[str] | Mapping[str, Any]) -> dict[CircuitBreaker, list[int]]:
        """Positions of a batch's keys, by the breaker guarding them (in key order)."""
        groups: dict[CircuitBreaker, list[int]] = {}
        for index, key in enumerate(batch):
            groups.setdefault(self.breaker_for(key), []).append(index)
        return groups or {self.breaker: []}

    async def _split(
        self,
        op: str,
        call: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        groups: dict[CircuitBreaker, list[int]],
    ) -> T:
        """Run a batch as one sub-batch per fault domain, concurrently (module docstring)."""
        batch, rest = args[0], args[1:]
        keys = list(batch)
        results: list[Any] = [None] * len(keys)
        errors: list[CacheKitError] = []

        async def one(positions: list[int]) -> None:
            part = [keys[i] for i in positions]
            sub = {key: batch[key] for key in part} if isinstance(batch, Mapping) else part
            try:
                values: Any = await self.run(op, call, sub, *rest)
            except CacheKitError as exc:
                errors.append(exc)
                return
            if values is not None:
                if len(values) != len(positions):
                    errors.append(BackendError(f"{self.name} {op} returned a wrong count"))
                    return
                for i, value in zip(positions, values, strict=True):
                    results[i] = value

        async with anyio.create_task_group() as tasks:
            for positions in groups.values():
                tasks.start_soon(one, positions)
        if errors:
            raise errors[0]
        return None if isinstance(batch, Mapping) else results  # type: ignore[return-value]

    async def _connect(self) -> None:
        """The backend's one-time set-up: not an operation, so outside the op timeout."""
        try:
            with anyio.fail_after(CONNECT_TIMEOUT):
                await self.backend.connect()
        except TimeoutError:
            raise BackendUnavailableError(
                f"{self.name} backend set-up took longer than {CONNECT_TIMEOUT} s"
            ) from None

    def mapped(self, op: str, exc: Exception) -> CacheKitError:
        """A backend's exception as one of ours (ours pass through unchanged)."""
        if isinstance(exc, CacheKitError):
            return exc
        return BackendError(f"{self.name} {op} failed: {type(exc).__name__}: {exc}")
