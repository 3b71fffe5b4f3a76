"""The storage backend interface: a few byte-level primitives, no policy.

Keys, TTL policy, envelopes, timeouts, events and error mapping all live in the
core (``Cache``); a backend only stores opaque bytes under string keys.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from typing import ClassVar

from cachekit._storage._usage import Usage

__all__ = ["AsyncBackend", "Usage"]


class AsyncBackend(abc.ABC):
    """Base class of every storage backend.

    Subclasses implement :meth:`get`, :meth:`set`, :meth:`delete` and
    :meth:`clear`; :meth:`get_many` / :meth:`set_many` default to loops and should
    be overridden where the store can do a batch in one round trip. The
    constructor must work with no arguments (options arrive as keyword arguments
    from ``Cache(type=..., **options)``).

    Rules every backend follows (the contract suite in :mod:`cachekit.testing`
    checks them):

    * values are ``bytes`` and come back byte for byte;
    * ``ttl`` is a lifetime in float seconds, honoured to the millisecond, or
      ``None`` for no expiry; the core never passes ``ttl <= 0``;
    * ``clear(prefix)`` removes only keys starting with ``prefix``;
    * a backend may be used from more than one event loop over its life (the sync
      face of ``Cache`` runs on a private loop thread), so per-loop resources such as
      connection pools must be created per loop or be loop-agnostic;
    * errors are raised as :class:`cachekit.BackendError` subclasses;
    * :meth:`aclose` is idempotent.

    Capability flags (class attributes) let the core pick a faster path; optional
    methods (:meth:`scan`, :meth:`usage`, the lock) raise :class:`NotImplementedError`
    where a store lacks them.

    **The lock capability** (``can_lock = True``; used by
    ``Cache(single_flight="distributed")`` so that concurrent identical misses in
    several processes make one provider call). A lock is named by an entry's storage
    key and lives beside it (never under it: ``clear``/``scan`` do not see locks):

    * :meth:`acquire` takes the lock for ``lease`` seconds if nobody holds it and
      returns a fresh token, else ``None`` (atomic: one of many contenders wins);
    * :meth:`renew` extends the lease if ``token`` still holds it;
    * :meth:`release` frees the lock if ``token`` still holds it (compare-and-delete,
      never someone else's lock) and wakes every :meth:`wait`-er;
    * :meth:`wait` returns at once when the lock is not held, ``True`` when it is
      released, ``False`` when ``seconds`` pass or the lease runs out (the holder
      died). It is notified (no polling loop) and must not starve other operations
      (a dedicated connection for blocking waits). A release between a waiter's
      failed :meth:`acquire` and its :meth:`wait` must not be missed.

    The core bounds every lock operation with ``Cache(timeout=)`` (``wait`` with its
    own ``seconds`` plus that), the circuit breaker and error mapping, like the others.
    """

    #: The type name the backend was registered under (set by the core).
    name: str = ""
    #: Lifetime applied when nothing else sets one (LiteLLM's ``default_in_*_ttl``).
    default_ttl: float | None = None
    #: True when every method completes without suspending (pure in-process work).
    #: The core then skips the per-operation timeout and the sync face runs the
    #: method inline instead of hopping to the loop thread.
    inline: ClassVar[bool] = False
    #: True when the store expires entries itself. Expiry is checked on read from
    #: the envelope either way; this only tells tools whether a sweep is needed.
    native_ttl: ClassVar[bool] = False
    #: True when the backend implements the lock capability (:meth:`acquire`,
    #: :meth:`renew`, :meth:`release`, :meth:`wait`); see the class docstring.
    can_lock: ClassVar[bool] = False
    #: True when other processes that open the same store see what this one writes
    #: (Redis, S3, a shared directory; not the in-process ``local``). With :meth:`scan`
    #: it lets ``Cache(shared_stats=True)`` keep counters in the store for every
    #: process (see ``cachekit._engine._shared``). A plain attribute: a wrapper such as
    #: the L1 tier copies its inner backend's.
    shared: bool = False

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, or ``None``."""

    @abc.abstractmethod
    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""

    @abc.abstractmethod
    async def clear(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix``; return how many were removed."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order (``None`` for each miss)."""
        return [await self.get(key) for key in keys]

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        """Store every item of ``mapping`` with the same ``ttl``."""
        for key, value in mapping.items():
            await self.set(key, value, ttl)

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        """Yield every stored key that starts with ``prefix`` (optional capability).

        Used by maintenance work that must visit every entry of a namespace (key
        rotation: ``Cache.arekey``, ``cachekit rekey``), never on a request path.
        Keys are yielded as the store lists them, page by page, without loading the
        whole listing; a key may come more than once (Redis ``SCAN`` does), expired
        keys not yet removed may come, and keys written or removed during the scan
        may or may not. Errors are raised as :class:`cachekit.BackendError`.

        The default raises :class:`NotImplementedError`: a backend that cannot list
        its keys cannot be rekeyed in place (clear it instead, or let it expire).
        """
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot list its keys")
        yield prefix  # pragma: no cover - makes this an async generator like its overrides

    async def acquire(self, name: str, lease: float) -> str | None:
        """Take the lock ``name`` for ``lease`` seconds: a token, or ``None`` if it is
        held (optional capability; see the class docstring)."""
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot lock")

    async def renew(self, name: str, token: str, lease: float) -> bool:
        """Extend the lease of ``name`` to ``lease`` seconds if ``token`` holds it."""
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot lock")

    async def release(self, name: str, token: str) -> bool:
        """Free ``name`` if ``token`` holds it and wake its waiters; whether it did."""
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot lock")

    async def wait(self, name: str, seconds: float) -> bool:
        """Wait (notified) until ``name`` is released (``True``), or until ``seconds``
        pass or its lease runs out (``False``); at once if it is not held. The bound is
        a parameter, not only the caller's cancel scope, so that a store can block on
        the server side (``BLMOVE … timeout``) instead of being cut off mid-command."""
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot lock")

    async def usage(self, prefix: str) -> Usage:
        """How many entries are stored under keys starting with ``prefix``, and the bytes
        of their values (optional capability; see :class:`cachekit.Usage`).

        ``cachekit stats`` shows it per namespace. Never called on a request path; it
        may walk the whole prefix (page by page, never loading the listing at once).
        Say in :attr:`Usage.note` what the count includes when it cannot be exact.
        The default raises :class:`NotImplementedError` (the CLI then says so)."""
        raise NotImplementedError(f"{self.name or type(self).__name__} cannot report its usage")

    def fault_domain(self, key: str) -> Hashable | None:
        """The part of the store that serves ``key`` and fails on its own (optional).

        A store made of independent parts (a Redis Cluster's nodes) returns the part
        currently serving ``key`` (e.g. the node's ``"host:port"``); the core then keeps
        one circuit breaker per part, so one dead node does not stop caching on the
        others, and it probes a part's open breaker at least every 0.5 s so caching
        resumes soon after a failover. Batches that span parts are split into one
        batch per part. Called before every keyed operation: it must be cheap (no
        I/O, no waiting) and must not raise; ``None`` means "the whole backend".

        The default returns ``None``: one breaker for the whole backend."""
        return None

    async def connect(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Do one-time set-up (import a client library, open a pool) for the running
        event loop. The core awaits it before operations, outside the per-operation
        timeout and without counting its duration against the circuit breaker (a
        failure still counts), so it must be idempotent and cheap once done. The
        default does nothing; operations must also work if it was never called."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release connections and files. Idempotent. The default does nothing."""
