"""The hook implementations cachekit finds through the ``cachekit`` entry point.

The factory is named as ``"module:attribute"``, so registering it imports nothing:
qdrant-client loads when the first ``qdrant-semantic`` cache is built. The core
routes ``Cache(type="qdrant-semantic", ...)`` options (and the cache's ``clock``)
by :class:`~cachekit_qdrant.QdrantSemanticBackend`'s keyword parameters and
refuses any other name before any I/O.
"""

from __future__ import annotations

from cachekit import hookimpl
from cachekit.hookspecs import RegisterBackend

__all__ = ["cachekit_register_backends"]


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("qdrant-semantic", "cachekit_qdrant._backend:QdrantSemanticBackend")
