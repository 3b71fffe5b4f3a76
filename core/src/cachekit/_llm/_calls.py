"""The LLM-call layer over the engine: requests, fail-open lookups and stores, and
the user overrides LiteLLM documents.

Fail-open: nothing here raises because of the cache. A backend failure, a corrupt
entry, a key that cannot be derived or a value that cannot be stored becomes a miss
or a skipped write plus an error event (and one WARNING per kind, see
:mod:`cachekit._engine._failures`). Invalid ``cache={...}`` controls do raise
``ValueError``, before any I/O.

Overrides: assigning ``cache.get_cache_key``/``get_cache``/``add_cache`` (or their
``async_`` twins) on a cache replaces that step on every path, sync and async, the
wrapper included. An override that calls the original method reaches the built-in
behaviour, not itself (a context-variable guard).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from cachekit._engine._engine import Engine
from cachekit._engine._steps import Materialize, plain_value
from cachekit._llm._distributed import DistributedFlight
from cachekit._llm._overrides import OVERRIDABLE, Overrides
from cachekit._llm._requests import KeyParams, Request
from cachekit._llm._revalidate import Revalidator
from cachekit._llm._singleflight import AsyncSingleFlight, SyncSingleFlight
from cachekit._policy._controls import NO_CONTROLS, CacheControls, resolve_ttl, validate_ttl
from cachekit._policy._envelope import Entry
from cachekit._policy._keys import (
    call_family,
    canonical_params,
    infer_call_type,
    storage_key,
)
from cachekit._semantic._index import SemanticIndex
from cachekit.exceptions import (
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
    PluginError,
)

__all__ = ["MODES", "OVERRIDABLE", "LLMCalls", "Mode", "model_of"]

Mode = Literal["default_on", "default_off"]
MODES = ("default_on", "default_off")

_perf = time.perf_counter


def model_of(request: Request) -> str | None:
    """The request's model, for the per-model stats (``None`` if it names none)."""
    model = request.kwargs.get("model")
    return model if isinstance(model, str) else None


def _given_entry(value: Any, call_type: str, now: float) -> Entry:
    """An override's answer as an entry (so every caller handles one kind of thing)."""
    entry = Entry(now, None, call_type, None, b"")
    entry._value = value
    return entry


class LLMCalls(Overrides):
    """The LLM-call layer of one cache (see the module docstring)."""

    def __init__(
        self,
        owner: Any,
        engine: Engine,
        semantic: SemanticIndex | None,
        *,
        ttl: float | None,
        supported: Iterable[str],
        mode: Mode,
        stale: tuple[float | None, float | None] = (None, None),
    ) -> None:
        self.owner = owner  # the facade, whose instance attributes may override methods
        self.engine = engine
        self.semantic = semantic
        self.ttl = ttl
        self.mode = mode
        self.supported = frozenset(supported) | frozenset(call_family(c) for c in supported)
        self.keys = KeyParams(engine.plugins)
        self.flights = AsyncSingleFlight()
        self.sync_flights = SyncSingleFlight()
        #: ``Cache(single_flight="distributed")`` on a backend that can lock, else None.
        self.distributed: DistributedFlight | None = None
        #: ``Cache(stale_while_revalidate=, stale_if_error=)``: windows of calls that give none.
        self.stale_defaults = stale
        self._no_controls = NO_CONTROLS.with_defaults(*stale)
        self.revalidator = Revalidator(engine)
        self._ttl_hook = engine.plugins.hook.cachekit_entry_ttl
        self.has_overrides = False  # see Overrides

    # -- requests --------------------------------------------------------------------------
    def enabled(self, call_type: str, kwargs: dict[str, Any], controls: CacheControls) -> bool:
        """Whether this call uses the cache at all (call type, ``caching=False``, mode)."""
        if call_type not in self.supported or kwargs.get("caching") is False:
            return False
        return self.mode == "default_on" or controls.use_cache

    def _request(
        self, call_type: str, kwargs: dict[str, Any], controls: CacheControls
    ) -> tuple[Request, str]:
        """A request without its key yet, and the namespace its key goes in."""
        if controls is NO_CONTROLS:  # the common case: its defaults were applied once
            controls = self._no_controls
        else:
            controls = controls.with_defaults(*self.stale_defaults)
        request = Request(call_family(call_type), kwargs, controls)
        return request, controls.namespace or self.engine.namespace

    def request_now(
        self, call_type: str, kwargs: dict[str, Any], controls: CacheControls
    ) -> Request | None:
        """:meth:`request` without awaiting: ``None`` when a ``get_cache_key`` override
        must be called for the key (only :meth:`request` can); raises like it."""
        explicit = kwargs.get("cache_key")
        if explicit is None and self.has_overrides and self.override("key") is not None:
            return None
        request, namespace = self._request(call_type, kwargs, controls)
        if explicit is not None:
            request.key = storage_key(explicit, namespace)
        else:
            request.key, request.params = self.keys.derive(namespace, request.call_type, kwargs)
        return request

    async def request(
        self, call_type: str, kwargs: dict[str, Any], controls: CacheControls
    ) -> Request:
        """The request with its storage key; raises when no key can be derived."""
        request = self.request_now(call_type, kwargs, controls)
        if request is not None:
            return request
        override = self.override("key")
        assert override is not None
        request, namespace = self._request(call_type, kwargs, controls)
        key = await self.call_override(override[0], override[1], **kwargs)
        if not isinstance(key, str) or not key:
            raise PluginError(f"the {override[0]} override returned {key!r}, not a string")
        request.key = storage_key(key, namespace)
        return request

    async def begin(self, kwargs: dict[str, Any], call_type: str | None = None) -> Request | None:
        """Validate controls (raising ``ValueError``), then build the request (fail-open:
        ``None`` when the cache is not used or no key can be derived)."""
        controls = CacheControls.parse(kwargs.get("cache"))
        if call_type is None:
            explicit = kwargs.get("call_type")
            call_type = explicit if isinstance(explicit, str) else infer_call_type(kwargs)
        if not self.enabled(call_type, kwargs, controls):
            return None
        try:
            return await self.request(call_type, kwargs, controls)
        except Exception as exc:  # an un-keyable request or a broken key override: no caching
            await self.engine.error(call_family(call_type), "", _perf(), exc, stage="key")
            return None

    # -- reads -----------------------------------------------------------------------------
    async def lookup(
        self, request: Request, materialize: Materialize = plain_value
    ) -> Entry | None:
        """The request's entry (exact, then semantic), its :attr:`~Entry.result` made
        by ``materialize``; every failure is a miss."""
        if request.controls.no_cache:
            return None
        engine = self.engine
        fallback = None
        if self.semantic is not None and request.params is not None:

            async def fallback() -> tuple[Entry | None, float | None]:
                return await self._semantic_lookup(request)

        try:
            entry = await engine.read(
                request.key,
                request.call_type,
                request.controls,
                fallback,
                materialize,
                model_of(request),
            )
            return request.answer(entry)
        except CacheKitError as exc:  # fail-open: an outage or a broken embedder is a miss
            start = _perf()
            request.degraded = isinstance(exc, BackendTimeoutError | BackendUnavailableError)
            await engine.error(request.call_type, request.key, start, exc)
            await engine.miss(request.call_type, request.key, start, model_of(request))
            return None

    async def _semantic_lookup(self, request: Request) -> tuple[Entry | None, float | None]:
        """The nearest entry of the request's partition, if a verifier lets it answer."""
        semantic = self.semantic
        assert semantic is not None and request.params is not None
        request.probe = await semantic.probe(
            self.engine.namespace_of(request.key), request.call_type, request.params
        )
        if request.probe is None:
            return None, None
        candidate = await semantic.search(request.probe, request.controls)
        if candidate is None or not await semantic.verify(
            request.call_type, request.key, request.params, candidate
        ):
            return None, None
        return candidate.entry, candidate.similarity

    async def fetch(self, request: Request, materialize: Materialize = plain_value) -> Entry | None:
        """The request's entry, or an overriding ``get_cache``'s answer as one."""
        override = self.override("get")
        if override is None:
            return await self.lookup(request, materialize)
        if request.controls.no_cache:
            return None
        try:
            value = await self.call_override(override[0], override[1], **request.kwargs)
        except Exception as exc:
            await self.engine.error(request.call_type, request.key, _perf(), exc, stage="plugin")
            return None
        if value is None:
            return None
        entry = _given_entry(value, request.call_type, self.engine.clock())
        try:
            entry.result = materialize(entry)
        except Exception as exc:
            await self.engine.error(request.call_type, request.key, _perf(), exc, stage="plugin")
            return None
        return entry

    async def fetch_items(self, requests: Sequence[Request]) -> list[Entry | None]:
        """Entries for several requests in one batch (``None`` for each miss); fail-open."""
        if self.override("get") is not None:
            return [await self.fetch(r) for r in requests]
        first = requests[0]
        if first.controls.no_cache:
            return [None] * len(requests)
        try:
            entries = await self.engine.read_many(
                [r.key for r in requests],
                first.call_type,
                first.controls,
                plain_value,
                model_of(first),
            )
            return [r.answer(e) for r, e in zip(requests, entries, strict=True)]
        except CacheKitError as exc:
            await self.engine.error(first.call_type, first.key, _perf(), exc)
            degraded = isinstance(exc, BackendTimeoutError | BackendUnavailableError)
            for r in requests:
                r.degraded = degraded
            return [None] * len(requests)

    # -- writes ------------------------------------------------------------------------------
    async def _lifetime(self, request: Request, result: Any) -> float | None:
        """Per-call ``ttl`` → the ``cachekit_entry_ttl`` hook → ``Cache(ttl=)`` → the
        backend's default. A failing hook or a bad value is reported and ignored."""
        controls = request.controls
        hook_ttl = None
        if controls.ttl is None and self._ttl_hook.get_hookimpls():
            try:
                params = request.params
                if params is None:
                    params = canonical_params(request.kwargs)
                chosen = self._ttl_hook(call_type=request.call_type, params=params, result=result)
                hook_ttl = validate_ttl(chosen, "cachekit_entry_ttl result")
            except Exception as exc:
                await self.engine.error(request.call_type, request.key, _perf(), exc, "plugin")
        return resolve_ttl(controls.ttl, hook_ttl, self.ttl, self.engine.backend.default_ttl)

    async def store(self, request: Request, result: Any) -> bool:
        """Write a fresh result unless the controls forbid it; fail-open."""
        if request.controls.no_store or request.degraded:
            return False
        engine = self.engine
        try:
            ttl = await self._lifetime(request, result)
            if ttl == 0:
                return False
            meta = request.meta
            if self.semantic is not None and request.params is not None:
                meta = self.semantic.entry_meta(request.call_type, request.params, meta)
            stale = request.controls.max_stale
            await engine.write(request.key, result, request.call_type, ttl, meta, stale)
            await self._index(request, ttl)
        except Exception as exc:  # a broken store never breaks the call
            await engine.error(request.call_type, request.key, _perf(), exc, stage="write")
            return False
        return True

    async def _index(self, request: Request, ttl: float | None) -> None:
        semantic = self.semantic
        if semantic is None or request.params is None:
            return
        probe = request.probe
        if probe is None:
            namespace = self.engine.namespace_of(request.key)
            probe = await semantic.probe(namespace, request.call_type, request.params)
        if probe is not None:
            await semantic.index(probe, request.key, ttl)

    async def save(self, request: Request, result: Any) -> None:
        """Store a fresh result, honouring an ``add_cache`` override (fail-open)."""
        override = self.override("add")
        if override is None:
            await self.store(request, result)
            return
        if request.controls.no_store:
            return
        try:
            await self.call_override(override[0], override[1], result, **request.kwargs)
        except Exception as exc:
            await self.engine.error(request.call_type, request.key, _perf(), exc, stage="plugin")

    async def save_items(self, pairs: Sequence[tuple[Request, Any]], whole: Any) -> None:
        """Store several results with one lifetime (chosen once, for the whole call)."""
        if not pairs or pairs[0][0].controls.no_store or pairs[0][0].degraded:
            return
        if self.override("add") is not None:
            for request, value in pairs:
                await self.save(request, value)
            return
        first = pairs[0][0]
        try:
            ttl = await self._lifetime(first, whole)
            if ttl == 0:
                return
            items = [(r.key, value, r.meta) for r, value in pairs]
            await self.engine.write_many(items, first.call_type, ttl, first.controls.max_stale)
        except Exception as exc:
            await self.engine.error(first.call_type, first.key, _perf(), exc, stage="write")

    # -- LiteLLM's names (the facade delegates here) ---------------------------------------------
    async def get_cache(self, kwargs: dict[str, Any]) -> Any:
        request = await self.begin(kwargs)
        if request is None:
            return None
        request.controls = request.controls.fresh_only()  # nothing here could refresh it
        entry = await self.lookup(request)
        return None if entry is None else entry.result

    async def add_cache(self, result: Any, kwargs: dict[str, Any]) -> None:
        request = await self.begin(kwargs)
        if request is not None:
            await self.store(request, result)

    def key_of(self, kwargs: dict[str, Any]) -> str:
        """``get_cache_key``: derive (or take the explicit ``cache_key``), no I/O."""
        controls = CacheControls.parse(kwargs.get("cache"))
        namespace = controls.namespace or self.engine.namespace
        explicit = kwargs.get("cache_key")
        if explicit is not None:
            return storage_key(explicit, namespace)
        family = call_family(infer_call_type(kwargs))
        return self.keys.derive(namespace, family, kwargs)[0]
