"""Constructors for the peer libraries, in one place (and typed as ``Any``).

Peers are imported lazily, so a missing one only turns its own rows into ``n/a``.
Defaults that change results are kept as the peer ships them unless a workload says
otherwise; see README.md ("Peer defaults").
"""

from __future__ import annotations

import importlib
from typing import Any


def module(name: str) -> Any:
    """Import a peer module, typed ``Any`` (most peers ship no or partial type hints)."""
    return importlib.import_module(name)


def litellm_cache(**kwargs: Any) -> Any:
    """``litellm.Cache(**kwargs)`` (needs LITELLM_LOCAL_MODEL_COST_MAP=True offline)."""
    return module("litellm").Cache(**kwargs)


def litellm_in_memory(**kwargs: Any) -> Any:
    """LiteLLM's ``InMemoryCache`` (defaults: ttl 600 s, 200 entries)."""
    return module("litellm.caching.in_memory_cache").InMemoryCache(**kwargs)


def cashews_cache(url: str) -> Any:
    """A fresh cashews ``Cache`` set up for ``url`` (``mem://`` holds 1000 entries by default)."""
    cache = module("cashews").Cache()
    cache.setup(url)
    return cache


def aiocache_memory(timeout: float | None = 5) -> Any:
    """aiocache ``SimpleMemoryCache``; its default ``timeout=5`` wraps ops in wait_for."""
    return module("aiocache").SimpleMemoryCache(timeout=timeout)
