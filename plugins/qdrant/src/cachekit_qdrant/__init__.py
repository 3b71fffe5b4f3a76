"""cachekit-qdrant: the ``qdrant-semantic`` backend for cachekit.

Installing the distribution is all a user does; the ``cachekit`` entry point makes
the type available::

    from cachekit import Cache
    cache = Cache(type="qdrant-semantic")                       # embedded, in memory
    cache = Cache(type="qdrant-semantic", qdrant_path="/var/cache/llm-qdrant")
    cache = Cache(type="qdrant-semantic", qdrant_api_base="http://127.0.0.1:6333",
                  qdrant_api_key="...", qdrant_collection_name="llm-cache")

Import :class:`QdrantSemanticBackend` to build one by hand or to call
:meth:`~QdrantSemanticBackend.index_many` for bulk imports. The names are loaded on
first use (module ``__getattr__``): qdrant-client (seconds to import) loads only
when one of them is used or a ``qdrant-semantic`` cache is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachekit import lazy_exports

if TYPE_CHECKING:
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

#: Public name → the private module that defines it.
_LAZY = {
    "QdrantSemanticBackend": "cachekit_qdrant._backend",
    "QdrantSettings": "cachekit_qdrant._config",
    "point_id": "cachekit_qdrant._backend",
    "quantization": "cachekit_qdrant._config",
    "settings_from_options": "cachekit_qdrant._config",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no other name
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
