"""The LLM-call API of ``Cache`` (LiteLLM's names), fail-open by design.

``get_cache_key(**kwargs)``, ``async_get_cache(**kwargs)``,
``async_add_cache(result, **kwargs)`` and the sync ``get_cache``/``add_cache``.
Assigning ``cache.get_cache_key``/``cache.get_cache``/``cache.add_cache`` replaces
the behaviour on every path, sync and async (as LiteLLM documents); an override
that calls the original method reaches the built-in behaviour, not itself.

A backend failure or a corrupt entry never raises from here: it becomes a miss
(or a skipped write) plus an error event. Invalid ``cache={...}`` controls do
raise ``ValueError``, before any I/O.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cachekit._controls import CacheControls, resolve_ttl, validate_ttl
from cachekit._envelope import Entry, decode_entry, encode_entry
from cachekit._keys import (
    DEFAULT_CALL_TYPES,
    call_family,
    canonical_params,
    derive_key,
    infer_call_type,
)
from cachekit._semantic_calls import SemanticCalls
from cachekit.exceptions import (
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
    PluginError,
)

__all__ = ["DEFAULT_CALL_TYPES", "MISS", "LLMCalls", "Request"]

#: What :meth:`LLMCalls._peek` returns when it cannot answer.
MISS: Any = object()

T = TypeVar("T")


_perf = time.perf_counter

#: Which overridable methods are running a user override right now (re-entry guard).
_IN_OVERRIDE: ContextVar[frozenset[str]] = ContextVar("cachekit_in_override", default=frozenset())


@dataclass
class Request:
    """One LLM request as the cache sees it."""

    call_type: str
    kwargs: dict[str, Any]
    controls: CacheControls
    key: str = ""
    params: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    partition: str = ""  # semantic backends: computed with the vector, once per miss
    vector: list[float] | None = None
    degraded: bool = False  # the lookup found the backend down: don't wait on it again


class LLMCalls(SemanticCalls):
    """LLM-call methods of :class:`cachekit.Cache` (LiteLLM's names) and the steps the
    ``cached`` wrapper is built from."""

    def supports(self, call_type: str) -> bool:
        """Whether ``call_type`` (or its family) is cached by this cache."""
        return call_type in self._supported

    def _override(self, name: str) -> Callable[..., Any] | None:
        fn = self.__dict__.get(name)
        if fn is None or name in _IN_OVERRIDE.get():
            return None
        return fn  # type: ignore[no-any-return]

    async def _call_override(
        self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        token = _IN_OVERRIDE.set(_IN_OVERRIDE.get() | {name})
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            _IN_OVERRIDE.reset(token)

    # -- keys ------------------------------------------------------------------
    def get_cache_key(self, /, **kwargs: Any) -> str:
        """The storage key of a request (``cache={"namespace": ...}`` is honoured)."""
        controls = CacheControls.parse(kwargs.get("cache"))
        return self._derive(infer_call_type(kwargs), kwargs, controls)[0]

    def _derive(
        self, family: str, kwargs: dict[str, Any], controls: CacheControls
    ) -> tuple[str, dict[str, Any]]:
        params = canonical_params(kwargs)
        impls = self.plugins.hook.cachekit_key_params.get_hookimpls()
        for impl in reversed(impls):
            changed = impl.function(call_type=family, params=params)
            if changed is not None:
                if not isinstance(changed, dict):
                    raise PluginError(f"{impl.plugin_name}: cachekit_key_params must return a dict")
                params = canonical_params(changed)
        return derive_key(controls.namespace or self.namespace, family, params), params

    def _request(self, call_type: str, kwargs: dict[str, Any], controls: CacheControls) -> Request:
        """Build the request; raises ``CacheKitError`` when no key can be derived."""
        family = call_family(call_type)
        request = Request(family, kwargs, controls)
        override = self._override("get_cache_key")
        if override is None:
            request.key, request.params = self._derive(family, kwargs, controls)
        else:
            token = _IN_OVERRIDE.set(_IN_OVERRIDE.get() | {"get_cache_key"})
            try:
                key = override(**kwargs)
            finally:
                _IN_OVERRIDE.reset(token)
            if not isinstance(key, str) or not key:
                raise PluginError(f"the get_cache_key override returned {key!r}, not a string")
            request.key = self._kv_key(key, controls.namespace)
        return request

    # -- lookups and stores (the wrapper uses these too) -------------------------
    async def _lookup(self, request: Request) -> Entry | None:
        """Read a request's entry; every failure is a miss plus an error event."""
        start = _perf()
        controls = request.controls
        if controls.no_cache:
            return None
        similarity = None
        try:
            entry = await self._read(request.key, request.call_type, start)
            if entry is None and self._semantic is not None:
                entry, similarity = await self._semantic_read(request, start)
        except CacheKitError as exc:  # fail-open: an outage or a bad store is a miss
            await self._notify("error", request.call_type, request.key, start, error=exc)
            request.degraded = isinstance(exc, BackendTimeoutError | BackendUnavailableError)
            entry = None
        if entry is not None and controls.rejects(self._clock() - entry.created_at):
            entry = None
        if entry is None:
            await self._notify("miss", request.call_type, request.key, start)
        else:
            age = self._clock() - entry.created_at
            await self._notify(
                "hit", request.call_type, request.key, start, age_s=age, similarity=similarity
            )
        self._stats.get_latency.append(_perf() - start)
        return entry

    async def _hook_ttl(self, request: Request, result: Any) -> float | None:
        """The ``cachekit_entry_ttl`` hook's choice; a raising hook or a bad value is
        reported as an error event and ignored (the next rule of precedence applies)."""
        if not self.plugins.hook.cachekit_entry_ttl.get_hookimpls():
            return None
        start = _perf()
        try:
            params = (
                request.params if request.params is not None else canonical_params(request.kwargs)
            )
            chosen = self.plugins.hook.cachekit_entry_ttl(
                call_type=request.call_type, params=params, result=result
            )
            return validate_ttl(chosen, "cachekit_entry_ttl result")
        except Exception as exc:
            await self._notify("error", request.call_type, request.key, start, error=exc)
            return None

    async def _store(self, request: Request, result: Any) -> bool:
        """Write a result unless controls forbid it; failures become error events."""
        controls = request.controls
        if controls.no_store or request.degraded:
            return False
        start = _perf()
        try:
            if self._breaker.blocked() and not self._backend.inline:
                raise BackendUnavailableError(
                    f"{self.type} backend is failing; circuit open, not storing"
                )
            hook_ttl = None if controls.ttl is not None else await self._hook_ttl(request, result)
            ttl = resolve_ttl(controls.ttl, hook_ttl, self.ttl, self._backend.default_ttl)
            if ttl == 0:
                return False
            raw = encode_entry(
                result,
                call_type=request.call_type,
                created_at=self._clock(),
                ttl=ttl,
                meta=request.meta or None,
            )
            await self._io("set", self._backend.set, request.key, raw, ttl)
            await self._semantic_index(request, ttl)
        except Exception as exc:  # fail-open: a broken store or hook never breaks the call
            await self._notify("error", request.call_type, request.key, start, error=exc)
            return False
        await self._notify("store", request.call_type, request.key, start, ttl_s=ttl)
        self._stats.latency("set", _perf() - start)
        return True

    def _prepare(
        self, call_type: str, kwargs: dict[str, Any], controls: CacheControls
    ) -> Request | Exception:
        """Derive the request's key, or return why not (the caller reports it; fail-open)."""
        try:
            return self._request(call_type, kwargs, controls)
        except Exception as exc:  # an un-keyable request or a broken key hook: no caching
            return exc

    async def _begin(self, kwargs: dict[str, Any], call_type: str | None = None) -> Request | None:
        """Validate controls (raising ``ValueError``), then derive the key (fail-open)."""
        controls = CacheControls.parse(kwargs.get("cache"))
        if call_type is None:
            explicit = kwargs.get("call_type")
            call_type = explicit if isinstance(explicit, str) else infer_call_type(kwargs)
        if not self.supports(call_type):
            return None
        request = self._prepare(call_type, kwargs, controls)
        if isinstance(request, Exception):
            await self._notify("error", call_family(call_type), "", _perf(), error=request)
            return None
        return request

    async def _fetch(self, request: Request) -> tuple[bool, Any, dict[str, Any] | None]:
        """``(hit, value, meta)`` for a request, honouring a ``get_cache`` override."""
        getter = self._override("get_cache")
        if getter is None:
            entry = await self._lookup(request)
            return (False, None, None) if entry is None else (True, entry.value, entry.meta)
        if request.controls.no_cache:
            return False, None, None
        try:
            value = await self._call_override("get_cache", getter, **request.kwargs)
        except Exception as exc:
            await self._notify("error", request.call_type, request.key, _perf(), error=exc)
            return False, None, None
        return value is not None, value, None

    async def _save(self, request: Request, result: Any) -> None:
        """Store a fresh result, honouring an ``add_cache`` override (fail-open)."""
        adder = self._override("add_cache")
        if adder is None:
            await self._store(request, result)
            return
        if request.controls.no_store:
            return
        try:
            await self._call_override("add_cache", adder, result, **request.kwargs)
        except Exception as exc:
            await self._notify("error", request.call_type, request.key, _perf(), error=exc)

    # -- the wrapper's fast paths ------------------------------------------------
    def _peek(self, family: str, kwargs: dict[str, Any]) -> Any:
        """The cached value of a plain request on an in-process backend, or ``MISS``.

        The hit path of a wrapped call without controls, overrides, key hooks, hit
        observers or a semantic index: derive the key, read and decode in place, no
        coroutine layers and no ``Request``. Anything else (including every miss and
        every error) returns ``MISS`` and the caller takes the full path, which
        counts and reports it.
        """
        backend = self._backend
        if not backend.inline or self._semantic is not None:
            return MISS
        overrides = self.__dict__
        if "get_cache_key" in overrides or "get_cache" in overrides:
            return MISS
        if self._key_hook.get_hookimpls() or self._hit_hook.get_hookimpls():
            return MISS
        start = _perf()
        try:
            key = derive_key(self.namespace, family, canonical_params(kwargs))
            pending = backend.get(key)
            try:
                pending.send(None)
            except StopIteration as done:
                raw = done.value
            else:  # an inline backend that suspended: not ours to drive
                pending.close()
                return MISS
            if raw is None:
                return MISS
            entry = decode_entry(raw)
        except Exception:
            return MISS
        if entry.expires_at is not None and self._clock() >= entry.expires_at:
            return MISS
        stats = self._stats
        stats.hits += 1
        stats.get_latency.append(_perf() - start)
        return entry.value

    def _breaker_open(self) -> bool:
        """Whether a remote backend's circuit is open (calls skip the cache entirely)."""
        return not self._backend.inline and self._breaker.blocked()

    async def _skip_open_circuit(self, family: str) -> None:
        """Count (and report) a call that bypassed the cache because the circuit is open."""
        await self._notify(
            "error",
            family,
            "",
            _perf(),
            error=BackendUnavailableError(f"{self.type} backend is failing; circuit open"),
        )

    # -- LiteLLM names ---------------------------------------------------------
    async def async_get_cache(self, /, **kwargs: Any) -> Any:
        """The cached result of a request, or ``None`` (a miss, or a backend problem)."""
        override = self._override("get_cache")
        if override is not None:
            return await self._call_override("get_cache", override, **kwargs)
        request = await self._begin(kwargs)
        if request is None:
            return None
        entry = await self._lookup(request)
        return None if entry is None else entry.value

    async def async_add_cache(self, result: Any, /, **kwargs: Any) -> None:
        """Store ``result`` as the answer to the request described by ``kwargs``."""
        override = self._override("add_cache")
        if override is not None:
            await self._call_override("add_cache", override, result, **kwargs)
            return
        request = await self._begin(kwargs)
        if request is not None:
            await self._store(request, result)

    def get_cache(self, /, **kwargs: Any) -> Any:
        """Sync twin of :meth:`async_get_cache`."""
        # This built-in runs only when not overridden or when an override calls it:
        # either way it must not dispatch to the override again.
        token = _IN_OVERRIDE.set(_IN_OVERRIDE.get() | {"get_cache"})
        try:
            return self._run(self.async_get_cache(**kwargs))
        finally:
            _IN_OVERRIDE.reset(token)

    def add_cache(self, result: Any, /, **kwargs: Any) -> None:
        """Sync twin of :meth:`async_add_cache`."""
        token = _IN_OVERRIDE.set(_IN_OVERRIDE.get() | {"add_cache"})
        try:
            self._run(self.async_add_cache(result, **kwargs))
        finally:
            _IN_OVERRIDE.reset(token)
