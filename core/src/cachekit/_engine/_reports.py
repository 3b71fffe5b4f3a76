"""The engine's reporting step, last on both paths: count a hit, a miss, a store or an
absorbed failure (``stats()``, shared counters) and tell the observers
(``cachekit_on_*`` hooks) with one :class:`~cachekit.CacheEvent`. A mixin of
:class:`~cachekit._engine._engine.Engine`, which sets the attributes declared here."""

from __future__ import annotations

import time
from collections.abc import Callable, Sized
from typing import TYPE_CHECKING, Any

import pluggy

from cachekit._engine._events import REFRESHING, CacheEvent, EventKind, emit
from cachekit._engine._failures import FailureLog
from cachekit._engine._savings import LLM_META, Pricing, Saved
from cachekit._engine._stats import StatsRecorder
from cachekit._policy._envelope import Entry
from cachekit._policy._keys import KEY_PREFIX

if TYPE_CHECKING:
    from cachekit._engine._shared import SharedStats

__all__ = ["Reports"]

_perf = time.perf_counter
_UNSET = object()


class Reports:
    """Counting and events for the engine's read and write paths."""

    name: str
    namespace: str
    _prefix: str
    clock: Callable[[], float]
    plugins: pluggy.PluginManager
    pricing: Pricing | None
    stats: StatsRecorder
    shared: SharedStats | None
    failures: FailureLog
    _observers: dict[str, Sized]
    hit_observers: Sized

    def namespace_of(self, key: str) -> str:
        if key.startswith(self._prefix):
            return self.namespace
        if key.startswith(KEY_PREFIX):
            return key[len(KEY_PREFIX) :].split(":", 1)[0]
        return self.namespace

    async def _emit(
        self, kind: EventKind, call_type: str, key: str, start: float, **extra: Any
    ) -> None:
        event = CacheEvent(
            kind, call_type, key, self.namespace_of(key), self.name, _perf() - start, **extra
        )
        failed = await emit(self.plugins, event)
        if failed:
            self.stats.errors += failed

    async def hit(
        self,
        call_type: str,
        key: str,
        start: float,
        entry: Entry,
        similarity: float | None = None,
        model: str | None = None,
    ) -> None:
        """Count a hit and what it saved (from the entry's ``meta["llm"]``), and report it."""
        saved = self.count_hit(call_type, key, entry, model)
        if self.hit_observers:
            await self.hit_event(call_type, key, start, entry, similarity, model, saved=saved)
        self.stats.get_latency.append(_perf() - start)

    def count_hit(self, call_type: str, key: str, entry: Entry, model: str | None) -> Saved | None:
        """Count a hit (stale or fresh) and what it saved; return the savings."""
        meta = entry.meta
        saved = None if meta is None else Saved.of(meta, self.pricing)
        if entry.stale_s:
            self.stats.stale_hits += 1
        namespace = self.namespace if key.startswith(self._prefix) else self.namespace_of(key)
        self.stats.hit(call_type, namespace, model, saved)
        if self.shared is not None:
            self.shared.tick()
        return saved

    async def hit_event(
        self,
        call_type: str,
        key: str,
        start: float,
        entry: Entry,
        similarity: float | None,
        model: str | None,
        *,
        saved: object = _UNSET,
        **flags: Any,
    ) -> None:
        """Report a hit to the observers (``saved``: the savings already worked out by
        :meth:`count_hit`, or left out to work them out here)."""
        extra: dict[str, Any] = {"model": model, **flags}
        if saved is _UNSET:
            saved = None if entry.meta is None else Saved.of(entry.meta, self.pricing)
        if isinstance(saved, Saved):
            extra.update(
                model=saved.model or model,
                tokens_saved=saved.tokens,
                prompt_tokens_saved=saved.prompt_tokens,
                completion_tokens_saved=saved.completion_tokens,
                latency_saved_s=saved.latency_s,
                cost_saved=saved.cost,
            )
        if entry.stale_s and "stale" not in extra:
            extra["stale"] = "while-revalidate"
        age = self.clock() - entry.created_at
        await self._emit("hit", call_type, key, start, age_s=age, similarity=similarity, **extra)

    async def miss(self, call_type: str, key: str, start: float, model: str | None = None) -> None:
        stats = self.stats
        stats.miss(call_type, self.namespace_of(key), model)
        if self.shared is not None:
            self.shared.tick()
        if self._observers["miss"]:
            await self._emit("miss", call_type, key, start, model=model)
        stats.get_latency.append(_perf() - start)

    async def stored(
        self, call_type: str, key: str, start: float, ttl: float | None, meta: Any = None
    ) -> None:
        self.stats.stores += 1
        if self._observers["store"]:
            record = meta.get(LLM_META) if meta else None  # the model, for LLM entries
            model = record.get("model") if isinstance(record, dict) else None
            await self._emit(
                "store", call_type, key, start, ttl_s=ttl, model=model, refresh=REFRESHING.get()
            )

    async def error(
        self, call_type: str, key: str, start: float, error: BaseException, stage: str = ""
    ) -> None:
        """Count an absorbed failure, warn once per kind, and report the event."""
        self.stats.errors += 1
        self.failures.report(error, call_type, stage)
        if self._observers["error"]:
            await self._emit("error", call_type, key, start, error=error, refresh=REFRESHING.get())
