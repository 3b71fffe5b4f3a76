"""Batched reads and writes for per-item embedding caching: one backend round
trip each way, fail-open like every LLM-call step (see :mod:`cachekit._embeddings`)."""

from __future__ import annotations

import time
from typing import Any

from cachekit._controls import resolve_ttl
from cachekit._envelope import encode_entry
from cachekit._llm import LLMCalls, Request
from cachekit.exceptions import BackendError, CacheKitError

__all__ = ["BatchCalls"]

_perf = time.perf_counter


class BatchCalls(LLMCalls):
    """``_fetch_many``/``_save_many``, used by the ``cached`` wrapper for list inputs."""

    async def _fetch_many(self, requests: list[Request]) -> list[Any]:
        """Stored values for ``requests`` in order (``None`` for each miss); fail-open."""
        if self._override("get_cache") is not None:
            return [v if hit else None for hit, v, _ in [await self._fetch(r) for r in requests]]
        start = _perf()
        keys = [r.key for r in requests]
        try:
            raws = await self._io("get_many", self._backend.get_many, keys)
            if len(raws) != len(keys):
                raise BackendError(
                    f"{self.type} get_many returned {len(raws)} values for {len(keys)}"
                )
        except CacheKitError as exc:
            await self._notify("error", requests[0].call_type, keys[0], start, error=exc)
            raws = [None] * len(keys)
        out: list[Any] = []
        for request, raw in zip(requests, raws, strict=True):
            entry = (
                None
                if raw is None
                else await self._decode(raw, request.key, request.call_type, start)
            )
            if entry is not None and request.controls.rejects(self._clock() - entry.created_at):
                entry = None
            if entry is None:
                await self._notify("miss", request.call_type, request.key, start)
                out.append(None)
            else:
                age = self._clock() - entry.created_at
                await self._notify("hit", request.call_type, request.key, start, age_s=age)
                out.append(entry.value)
        self._stats.latency("get_many", _perf() - start)
        return out

    async def _save_many(self, pairs: list[tuple[Request, Any]], whole: Any) -> None:
        """Store several results with one lifetime (chosen once for the whole call)."""
        if not pairs or pairs[0][0].controls.no_store:
            return
        if self._override("add_cache") is not None:
            for request, value in pairs:
                await self._save(request, value)
            return
        first = pairs[0][0]
        start = _perf()
        try:
            hook_ttl = (
                None if first.controls.ttl is not None else await self._hook_ttl(first, whole)
            )
            ttl = resolve_ttl(first.controls.ttl, hook_ttl, self.ttl, self._backend.default_ttl)
            if ttl == 0:
                return
            now = self._clock()
            mapping = {
                r.key: encode_entry(
                    v, call_type=r.call_type, created_at=now, ttl=ttl, meta=r.meta or None
                )
                for r, v in pairs
            }
            await self._io("set_many", self._backend.set_many, mapping, ttl)
        except Exception as exc:  # fail-open
            await self._notify("error", first.call_type, first.key, start, error=exc)
            return
        for request, _ in pairs:
            await self._notify("store", request.call_type, request.key, start, ttl_s=ttl)
        self._stats.latency("set_many", _perf() - start)
