"""cachekit-qdrant: the ``qdrant-semantic`` backend for cachekit.

Installing the distribution is all a user does; the ``cachekit`` entry point makes
the type available::

    from cachekit import Cache
    cache = Cache(type="qdrant-semantic")                       # embedded, in memory
    cache = Cache(type="qdrant-semantic", qdrant_path="/var/cache/llm-qdrant")
    cache = Cache(type="qdrant-semantic", qdrant_api_base="http://127.0.0.1:6333",
                  qdrant_api_key="...", qdrant_collection_name="llm-cache")

Import :class:`QdrantSemanticBackend` to build one by hand or to call
:meth:`~QdrantSemanticBackend.index_many` for bulk imports.
"""

from __future__ import annotations

from cachekit_qdrant._backend import QdrantSemanticBackend, point_id
from cachekit_qdrant._config import QdrantSettings, quantization, settings_from_options

__all__ = [
    "QdrantSemanticBackend",
    "QdrantSettings",
    "point_id",
    "quantization",
    "settings_from_options",
]

__version__ = "0.1.0"
