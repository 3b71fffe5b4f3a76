"""``Cache``: the facade users hold. Policy lives once in :mod:`cachekit._core`.

The async methods are the implementation; the sync twins are thin layers over
them (see :mod:`cachekit._sync`). The key-value API raises mapped
:class:`~cachekit.BackendError` subclasses so callers can tell a miss from an
outage; the LLM-call API (:mod:`cachekit._llm`) and the ``cached`` wrapper are
fail-open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from cachekit._batches import BatchCalls
from cachekit._controls import validate_ttl
from cachekit._core import _perf
from cachekit._envelope import decode_entry, encode_entry, rebuild
from cachekit._keys import KEY_PREFIX, namespace_prefix, validate_namespace
from cachekit._urls import options_from_url
from cachekit._wrapper import wrap
from cachekit.exceptions import BackendError, EntryError

__all__ = ["Cache"]

T = TypeVar("T")


class Cache(BatchCalls):
    """A cache in front of one storage backend.

    ``type`` names a registered backend (``cachekit backends`` lists them). Every
    other keyword follows LiteLLM's caching names; options meant for the backend
    (``host``, ``s3_bucket_name``, ``disk_cache_dir``, ``max_size``…) are passed to
    its factory. ``ttl`` is the default lifetime in seconds, ``namespace`` isolates
    entries (``aclear`` removes only this namespace), ``timeout`` bounds each
    backend operation, ``plugins`` selects a plugin manager, ``breaker`` tunes the
    circuit breaker (``threshold``, ``cooldown``, ``max_cooldown`` seconds) and
    ``clock`` (a ``() -> float`` of wall-clock seconds) is injectable for tests; it
    is also given to backend factories that accept a ``clock`` option.
    """

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Cache:
        """Build a cache from a URL (see :func:`cachekit._urls.options_from_url`)."""
        options = options_from_url(url)
        options.update(overrides)
        return cls(**options)

    def cached(
        self, call_type: str, *, response_type: type[Any] | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a provider function (sync, async, generator or async generator)
        called with OpenAI-style keyword arguments so its results go through this cache.
        ``response_type`` (or the function's pydantic return annotation) rebuilds hits."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            return wrap(lambda: self, call_type, fn, response_type)

        return decorate

    # -- key-value API ---------------------------------------------------------
    async def aget(self, key: str, *, response_type: type[T] | None = None) -> Any:
        """The value stored under ``key``, or ``None``. ``response_type`` rebuilds a
        pydantic model (``Model.model_validate``). Backend failures raise
        :class:`BackendError`; a corrupt entry is a miss plus an error event."""
        # The hot path: one backend call, one JSON parse, two counters, no extra
        # coroutine layers unless something goes wrong or someone observes.
        start = _perf()
        if type(key) is str and key and not key.startswith(KEY_PREFIX):
            skey = self._key_prefix + key
        else:
            skey = self._kv_key(key)
        backend = self._backend
        if backend.inline:
            try:
                raw = await backend.get(skey)
            except Exception as exc:  # map like _io does, without its extra coroutine layer
                raise self._mapped("get", exc) from exc
        else:
            l1 = self._l1
            raw = None if l1 is None else await l1.get(skey)
            if raw is None:
                raw = await self._io("get", backend.get, skey)
        entry = None
        if raw is not None:
            try:
                entry = decode_entry(raw)
            except EntryError as exc:
                await self._notify("error", "kv", skey, start, error=exc)
            else:
                expires_at = entry.expires_at
                if expires_at is not None and self._clock() >= expires_at:
                    entry = None
        stats = self._stats
        if entry is None:
            stats.misses += 1
            if self._miss_hook.get_hookimpls():
                await self._emit("miss", "kv", skey, start)
            stats.get_latency.append(_perf() - start)
            return None
        stats.hits += 1
        if self._hit_hook.get_hookimpls():
            await self._emit("hit", "kv", skey, start, age_s=self._clock() - entry.created_at)
        stats.get_latency.append(_perf() - start)
        if response_type is None:
            return entry.value
        return rebuild(entry.value, response_type)

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` (anything JSON can hold, or a pydantic model) under ``key``."""
        start = _perf()
        lifetime = self._entry_ttl(validate_ttl(ttl))
        skey = self._kv_key(key)
        if lifetime == 0:
            await self._io("delete", self._backend.delete, skey)
            return
        raw = encode_entry(value, call_type="kv", created_at=self._clock(), ttl=lifetime)
        await self._io("set", self._backend.set, skey, raw, lifetime)
        await self._notify("store", "kv", skey, start, ttl_s=lifetime)
        self._stats.latency("set", _perf() - start)

    async def aget_many(
        self, keys: Sequence[str], *, response_type: type[T] | None = None
    ) -> list[Any]:
        """Values for ``keys`` in order (``None`` for each miss), in one batch."""
        start = _perf()
        skeys = [self._kv_key(k) for k in keys]
        if not skeys:
            return []
        raws = await self._io("get_many", self._backend.get_many, skeys)
        if len(raws) != len(skeys):
            raise BackendError(
                f"{self.type} get_many returned {len(raws)} values for {len(skeys)} keys"
            )
        out: list[Any] = []
        for skey, raw in zip(skeys, raws, strict=True):
            entry = None if raw is None else await self._decode(raw, skey, "kv", start)
            if entry is None:
                await self._notify("miss", "kv", skey, start)
                out.append(None)
            else:
                await self._notify("hit", "kv", skey, start, age_s=self._clock() - entry.created_at)
                out.append(rebuild(entry.value, response_type))
        self._stats.latency("get_many", _perf() - start)
        return out

    async def aset_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store every item of ``mapping`` with the same lifetime, in one batch."""
        start = _perf()
        lifetime = self._entry_ttl(validate_ttl(ttl))
        now = self._clock()
        encoded = {
            self._kv_key(k): encode_entry(v, call_type="kv", created_at=now, ttl=lifetime)
            for k, v in mapping.items()
        }
        if not encoded:
            return
        if lifetime == 0:
            for skey in encoded:
                await self._io("delete", self._backend.delete, skey)
            return
        await self._io("set_many", self._backend.set_many, encoded, lifetime)
        for skey in encoded:
            await self._notify("store", "kv", skey, start, ttl_s=lifetime)
        self._stats.latency("set_many", _perf() - start)

    async def adelete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""
        return await self._io("delete", self._backend.delete, self._kv_key(key))

    async def aclear(self, namespace: str | None = None) -> int:
        """Remove every entry of this cache's namespace (or ``namespace``); return the count."""
        ns = self.namespace if namespace is None else validate_namespace(namespace)
        return await self._io("clear", self._backend.clear, namespace_prefix(ns))

    async def aclose(self) -> None:
        """Release the backend's resources. Idempotent. Never skipped by an open
        circuit or cut short by the operation timeout: connections must be released."""
        try:
            await self._backend.aclose()
        except Exception as exc:
            raise self._mapped("close", exc) from exc

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- sync face -------------------------------------------------------------
    def get(self, key: str, *, response_type: type[T] | None = None) -> Any:
        """Sync twin of :meth:`aget`."""
        return self._run(self.aget(key, response_type=response_type))

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Sync twin of :meth:`aset`."""
        return self._run(self.aset(key, value, ttl))

    def get_many(self, keys: Sequence[str], *, response_type: type[T] | None = None) -> list[Any]:
        """Sync twin of :meth:`aget_many`."""
        return self._run(self.aget_many(keys, response_type=response_type))

    def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Sync twin of :meth:`aset_many`."""
        return self._run(self.aset_many(mapping, ttl))

    def delete(self, key: str) -> bool:
        """Sync twin of :meth:`adelete`."""
        return self._run(self.adelete(key))

    def clear(self, namespace: str | None = None) -> int:
        """Sync twin of :meth:`aclear`."""
        return self._run(self.aclear(namespace))

    def close(self) -> None:
        """Sync twin of :meth:`aclose`."""
        return self._run(self.aclose())

    def __enter__(self) -> Cache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
