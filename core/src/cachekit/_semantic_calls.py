"""The semantic steps of a lookup and a store (semantic backends only).

After the exact key missed, the prompt text is embedded once, the backend is
searched within the request's partition, and the match is read by its exact key.
The same vector indexes the fresh result on a miss. See :mod:`cachekit._semantic`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachekit._core import CacheCore
from cachekit._embedders import normalise
from cachekit._envelope import Entry
from cachekit._keys import canonical_params
from cachekit._semantic import SEMANTIC_FAMILIES, partition_of, prompt_text
from cachekit.exceptions import PluginError

if TYPE_CHECKING:
    from cachekit._llm import Request

__all__ = ["SemanticCalls"]


class SemanticCalls(CacheCore):
    """Semantic lookup and indexing, used by :class:`cachekit._llm.LLMCalls`."""

    async def _embed(self, request: Request) -> bool:
        """Compute the request's partition and vector once; ``False`` if it has no text."""
        if request.vector is not None:
            return True
        semantic = self._semantic
        if semantic is None or request.call_type not in SEMANTIC_FAMILIES:
            return False
        params = request.params if request.params is not None else canonical_params(request.kwargs)
        text = prompt_text(params)
        if text is None:
            return False
        try:
            vectors = await semantic.embedder([text])
            vector = normalise(vectors[0])
        except Exception as exc:
            raise PluginError(f"embedder failed: {type(exc).__name__}: {exc}") from exc
        request.partition = partition_of(
            self._namespace_of(request.key), request.call_type, params, semantic.embedder_id
        )
        request.vector = vector
        return True

    async def _semantic_read(
        self, request: Request, start: float
    ) -> tuple[Entry | None, float | None]:
        assert self._semantic is not None
        if not await self._embed(request):
            return None, None
        backend = self._semantic.backend
        match = await self._io(
            "search", backend.search, request.partition, request.vector, self._semantic.threshold
        )
        if match is None:
            return None, None
        entry = await self._read(match.key, request.call_type, start)
        return (entry, match.similarity) if entry is not None else (None, None)

    async def _semantic_index(self, request: Request, ttl: float | None) -> None:
        if self._semantic is not None and await self._embed(request):
            await self._io(
                "index",
                self._semantic.backend.index,
                request.partition,
                request.key,
                request.vector,
                ttl,
            )
