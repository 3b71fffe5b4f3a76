"""The hook implementations cachekit finds through the ``cachekit`` entry point.

qdrant-client is imported only when a ``qdrant-semantic`` backend is built, so
loading the plugin (on every ``import cachekit`` with autoloading) stays cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cachekit import AsyncBackend, ConfigurationError, hookimpl
from cachekit.hookspecs import RegisterBackend

__all__ = ["cachekit_register_backends", "make_qdrant_semantic_backend"]

#: The options ``QdrantSemanticBackend`` takes (kept in step by a test).
ACCEPTED = frozenset(
    {
        "qdrant_api_base",
        "qdrant_api_key",
        "qdrant_collection_name",
        "qdrant_quantization_config",
        "qdrant_location",
        "qdrant_path",
        "qdrant_timeout",
        "qdrant_purge_interval",
        "url",
        "clock",
    }
)


def make_qdrant_semantic_backend(
    *, clock: Callable[[], float] = time.time, **options: Any
) -> AsyncBackend:
    """Factory for ``Cache(type="qdrant-semantic", ...)``: rejects unknown options by name.
    ``clock`` is named so that the core hands it the cache's clock."""
    unknown = sorted(set(options) - ACCEPTED)
    if unknown:
        raise ConfigurationError(
            f"qdrant-semantic backend: unknown option(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(ACCEPTED))}"
        )
    from cachekit_qdrant._backend import QdrantSemanticBackend

    return QdrantSemanticBackend(clock=clock, **options)


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("qdrant-semantic", make_qdrant_semantic_backend)
