"""One wrapped call: its request, and the async steps both faces of the wrapper use.

The steps never raise because of the cache (they report and fall back); the
provider's own exceptions pass through untouched.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from cachekit._engine._savings import LLM_META, llm_meta, usage_of
from cachekit._llm._calls import LLMCalls
from cachekit._llm._codec import Codec, mark_hit
from cachekit._llm._embeddings import EmbeddingPlan, item_id, per_item_inputs
from cachekit._llm._hits import lookup_now
from cachekit._llm._info import Info, info_of, remember
from cachekit._llm._requests import Request
from cachekit._policy._controls import CacheControls
from cachekit._policy._envelope import Entry
from cachekit._policy._keys import KEY_PREFIX, call_family
from cachekit._policy._models import build_model, is_model_class, restore_nested
from cachekit.exceptions import CacheKitError

__all__ = ["ITEMS_STORED", "MISS", "WrappedCall"]

#: What :meth:`WrappedCall.lookup` returns when there is no usable entry.
MISS: Any = object()


class _Stored:
    """Another process stored the missing items; read them (kept by copies)."""

    def __copy__(self) -> _Stored:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Stored:
        return self


#: What a distributed flight over missing embedding items returns when another process
#: stored them all while this one waited.
ITEMS_STORED: Any = _Stored()

_perf = time.perf_counter


class WrappedCall:
    """One wrapped call (see the module docstring)."""

    __slots__ = (
        "args",
        "call_type",
        "calls",
        "codec",
        "controls",
        "fn",
        "info",
        "items",
        "key_kwargs",
        "kwargs",
        "plan",
        "request",
        "requests",
        "stale_at",
        "stale_items",
        "start",
        "streaming",
        "ticket",
    )

    def __init__(
        self,
        calls: LLMCalls,
        codec: Codec,
        call_type: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        raw_controls: Any,
        controls: CacheControls,
        streaming: bool,
        key_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.calls = calls
        self.codec = codec
        self.call_type = call_type
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.controls = controls
        key_kwargs = kwargs if raw_controls is None else {**kwargs, "cache": raw_controls}
        if args:  # positional arguments are part of the request too
            key_kwargs = {**key_kwargs, "$args": list(args)}
        if key_params:  # e.g. the client's base_url: in the key, never sent to the provider
            key_kwargs = {**key_kwargs, **key_params}
        self.key_kwargs = key_kwargs
        self.streaming = streaming
        embedding = call_family(call_type) == "embedding"
        self.items = per_item_inputs(kwargs) if embedding and not streaming else None
        self.request: Request | None = None
        self.requests: list[Request] = []
        self.plan: EmbeddingPlan | None = None
        self.ticket: int | None = None
        self.info: Info | None = None
        self.start: float | None = None
        #: When the stale entry this call was served was written (it needs a refresh).
        self.stale_at: float | None = None
        #: The items served stale (per-item embeddings).
        self.stale_items: list[Any] = []

    # -- whole-request entries -------------------------------------------------------
    async def prepare(self) -> Request | None:
        """Derive the request's key (``None``, reported, when it cannot be derived)."""
        try:
            self.request = await self.calls.request(self.call_type, self.key_kwargs, self.controls)
        except Exception as exc:
            await self.calls.engine.error(call_family(self.call_type), "", _perf(), exc, "key")
            return None
        return self.request

    def lookup_now(self) -> Any:
        """:meth:`lookup` without awaiting, for a fresh hit in an in-process backend;
        :data:`MISS` when it cannot say (a miss among them): await :meth:`lookup` then,
        with the :attr:`request` derived here (if any); it reads again."""
        calls = self.calls
        try:
            request = calls.request_now(self.call_type, self.key_kwargs, self.controls)
        except Exception:  # lookup() derives it again and reports why it cannot
            return MISS
        if request is None:
            return MISS
        self.request = request
        entry = lookup_now(calls, request, self._materialize)
        if entry is None:
            return MISS
        self._hit_info(request, entry)
        return entry.result

    async def lookup(self, request: Request | None = None) -> Any:
        """The cached answer, already rebuilt into the caller's type (a list of chunks
        for a stream), or :data:`MISS`. A stored value that does not fit is a miss.
        ``request``: the one :meth:`lookup_now` derived (else derived here)."""
        if request is None:
            request = await self.prepare()
            if request is None:
                return MISS
        calls = self.calls
        entry = await calls.fetch(request, self._materialize)
        if entry is None:
            return MISS
        if entry.stale_s:
            self.stale_at = entry.created_at
        self._hit_info(request, entry)
        return entry.result

    def _hit_info(self, request: Request, entry: Entry) -> None:
        engine = self.calls.engine
        self.info = info_of(
            True,
            request.key,
            engine.namespace_of,
            max(0.0, engine.clock() - entry.created_at),
            entry.similarity,
        )

    async def held_answer(self, error: BaseException) -> Any:
        """The entry held for ``stale-if-error`` as this call's answer (counted and
        reported as served stale), or :data:`MISS` when none is held."""
        request = self.request
        held = None if request is None else request.held
        if request is None or held is None:
            return MISS
        await self._served_stale(request, held, error)
        self._hit_info(request, held)
        return held.result

    async def _served_stale(self, request: Request, held: Entry, error: BaseException) -> None:
        engine = self.calls.engine
        engine.stats.stale_on_error += 1
        model = self.kwargs.get("model")
        await engine.hit_event(
            request.call_type,
            request.key,
            _perf(),
            held,
            None,
            model if isinstance(model, str) else None,
            stale="if-error",
            error=error,
        )

    def refresh_copy(self, inputs: list[Any] | None = None) -> WrappedCall:
        """This call again, as a forced refresh (``no-cache``) for a background refresh;
        ``inputs`` narrows a per-item embeddings call to those items."""
        again = copy.copy(self)
        again.controls = dataclasses.replace(self.controls, no_cache=True)
        if inputs is not None:
            again.items = inputs
            again.kwargs = {**self.kwargs, "input": inputs}
            again.key_kwargs = {**self.key_kwargs, "input": inputs}
        again.request = again.plan = again.info = again.stale_at = None
        again.requests = []
        again.stale_items = []
        return again

    async def recheck(self) -> Any:
        """Read the entry again (another process may have stored it since the miss): the
        answer, or :data:`MISS`. A raw read first, so a still-empty key is not counted
        as a second miss."""
        calls = self.calls
        request = self.request
        if request is None:
            return MISS
        if not calls.has_overrides:
            try:
                if await calls.engine.fetch(request.key) is None:
                    return MISS
            except CacheKitError as exc:
                await calls.engine.error(request.call_type, request.key, _perf(), exc)
                return MISS
        return await self.lookup()

    def _materialize(self, entry: Entry) -> Any:
        """The read path's last step: the stored value rebuilt into the caller's type (a
        list of chunks for a stream); raises if it does not fit (a miss, reported)."""
        if self.streaming:
            return self.codec.stream(entry, self.kwargs)
        if entry.payload:
            return self.codec.response(entry, self.kwargs)
        return self.codec.response_from_value(entry.value, self.kwargs)  # an override's answer

    def remember(self, result: Any) -> Any:
        """Record for :func:`cachekit.cache_info` what the cache did for ``result``."""
        info = self.info
        if info is None:
            request = self.request
            if request is None:
                return result
            info = info_of(False, request.key, self.calls.engine.namespace_of)
        return remember(result, info)

    def started(self) -> None:
        """Mark the provider call's start (what a hit of this entry will save)."""
        self.start = _perf()

    def _llm_meta(self, usage: dict[str, int] | None) -> dict[str, Any] | None:
        latency = None if self.start is None else _perf() - self.start
        return llm_meta(self.kwargs.get("model"), usage, latency)

    async def save(self, result: Any) -> None:
        """Store a whole response (its nested model classes recorded for the rebuild,
        its model, usage and provider latency for the savings of later hits)."""
        request = self.request
        if request is not None:
            meta = self.codec.response_meta(result) or {}
            record = self._llm_meta(usage_of(result))
            if record is not None:
                meta[LLM_META] = record
            request.meta = meta or None
            await self.calls.save(request, result)

    async def save_stream(self, chunks: list[Any]) -> None:
        """Store a completed stream's chunks (usage from the chunk that carries it)."""
        request = self.request
        if request is not None:
            values, meta = self.codec.stream_entry(chunks)
            usage = next((u for u in map(usage_of, reversed(chunks)) if u), None)
            record = self._llm_meta(usage)
            if record is not None:
                meta[LLM_META] = record
            request.meta = meta
            await self.calls.save(request, values)

    # -- per-item embeddings -----------------------------------------------------------
    async def lookup_items(self) -> bool:
        """Fetch every item; ``False`` when keys cannot be derived (call through)."""
        assert self.items is not None
        plan = self.plan = EmbeddingPlan(self.items)
        self.requests = []  # a second lookup (after a distributed wait) starts afresh
        calls = self.calls
        for item in plan.unique:
            try:
                request = await calls.request(
                    self.call_type, {**self.key_kwargs, "input": [item]}, self.controls
                )
            except Exception as exc:
                await calls.engine.error(call_family(self.call_type), "", _perf(), exc, "key")
                return False
            self.requests.append(request)
        for item, entry in zip(plan.unique, await calls.fetch_items(self.requests), strict=True):
            if entry is not None and plan.accept(item, entry.value, entry.meta) and entry.stale_s:
                self.stale_items.append(item)
                written = entry.created_at
                self.stale_at = written if self.stale_at is None else min(self.stale_at, written)
        return True

    async def held_items(self, error: BaseException) -> bool:
        """Answer every missing item from entries held for ``stale-if-error`` (each
        counted and reported as served stale); ``False`` when some item has none."""
        plan = self.plan
        assert plan is not None
        by_id = {item_id(i): r for i, r in zip(plan.unique, self.requests, strict=True)}
        missing = [(item, by_id[item_id(item)]) for item in plan.missing()]
        if any(request.held is None for _, request in missing):
            return False
        for item, request in missing:
            held = request.held
            assert held is not None
            if not plan.accept(item, held.value, held.meta):
                return False
            await self._served_stale(request, held, error)
        return True

    def missing_kwargs(self) -> dict[str, Any] | None:
        """Provider kwargs for the missing items, or ``None`` when nothing is missing."""
        assert self.plan is not None
        missing = self.plan.missing()
        if not missing:
            return None
        return {**self.kwargs, "input": missing}

    def _missing_keys(self) -> list[str]:
        assert self.plan is not None
        missing = {item_id(item) for item in self.plan.missing()}
        pairs = zip(self.plan.unique, self.requests, strict=True)
        return sorted(r.key for i, r in pairs if item_id(i) in missing)

    def items_flight_key(self) -> str:
        """The single-flight key of this call's missing items (their keys, sorted)."""
        return "items\n" + "\n".join(self._missing_keys())

    @staticmethod
    def items_lock_name(flight_key: str) -> str:
        """The distributed lock of a set of missing items (a digest of their keys)."""
        return f"{KEY_PREFIX}items:{hashlib.sha256(flight_key.encode()).hexdigest()}"

    async def items_stored(self) -> Any:
        """Re-read the missing items (raw, not counted): :data:`ITEMS_STORED` once every
        one is stored (by another process), else :data:`MISS`."""
        engine = self.calls.engine
        try:
            raws = await engine.io("get_many", engine.backend.get_many, self._missing_keys())
        except CacheKitError:
            return MISS
        return ITEMS_STORED if all(raw is not None for raw in raws) else MISS

    async def finish_items(self, response: Any, store: bool = True) -> Any:
        """Store the provider's items (unless ``store`` is false: a single-flight
        follower, whose leader stored them) and return the whole answer in request order."""
        plan = self.plan
        assert plan is not None
        if response is None:  # every item was cached
            return self._merged(plan, None, None)
        missing = plan.missing()
        if hasattr(response, "model_dump"):
            self.codec.responses.learn(type(response))
        doc, fresh = plan.split(response, missing)
        by_id = {item_id(i): r for i, r in zip(plan.unique, self.requests, strict=True)}
        pairs = []
        for item, value in zip(missing, fresh, strict=True):
            plan.accept(item, value)
            request = by_id[item_id(item)]
            request.meta = {"item": True}
            if plan.item_model:
                request.meta["item_model"] = plan.item_model
            record = self._llm_meta(plan.usage.get(item_id(item)))
            if record is not None:
                if "latency_s" in record:  # each item's share of the call
                    record["latency_s"] = round(record["latency_s"] / len(missing), 6)
                request.meta[LLM_META] = record
            pairs.append((request, value))
        if store:
            await self.calls.save_items(pairs, response)
        if len(missing) == len(plan.inputs):  # nothing came from the cache: the original answer
            return response
        return self._merged(plan, doc, response)

    def _merged(self, plan: EmbeddingPlan, doc: dict[str, Any] | None, response: Any) -> Any:
        merged = plan.merge(doc)
        cls = type(response) if is_model_class(type(response)) else None
        codec = self.codec
        if cls is None:
            cls = codec.responses.pick(None, self.kwargs)
        if cls is None:
            return merged
        obj = build_model(cls, merged)
        if plan.item_model:
            restore_nested(
                obj, {"data.*": plan.item_model}, {*codec.responses.modules(), cls.__module__}
            )
        return obj if response is not None else mark_hit(obj)
