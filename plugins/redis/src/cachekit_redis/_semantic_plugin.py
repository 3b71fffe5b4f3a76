"""The ``redis-semantic`` hook implementation (its own ``cachekit`` entry point).

The factory is named as ``"module:attribute"``, so registering it imports nothing:
redis-py and numpy load when the first ``redis-semantic`` cache is built. Its
options are :class:`~cachekit_redis.RedisBackend`'s plus the three ``semantic_*``
ones (the signature :class:`~cachekit_redis._semantic.RedisSemanticBackend`
declares), routed by the core.
"""

from __future__ import annotations

from cachekit import hookimpl
from cachekit.hookspecs import RegisterBackend

__all__ = ["cachekit_register_backends"]


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("redis-semantic", "cachekit_redis._semantic:RedisSemanticBackend")
