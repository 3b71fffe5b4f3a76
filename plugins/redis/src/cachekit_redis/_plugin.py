"""The pluggy hook implementations of cachekit-redis (the ``cachekit`` entry point).

The factory is named as ``"module:attribute"``, so registering it imports nothing:
redis-py loads when the first ``redis`` cache is built. The core routes
``Cache(type="redis", ...)`` options by :class:`~cachekit_redis.RedisBackend`'s
keyword parameters and refuses any other name before any I/O.
"""

from __future__ import annotations

from cachekit import hookimpl
from cachekit.hookspecs import RegisterBackend

from cachekit_redis._urls import cachekit_register_url_schemes

__all__ = ["cachekit_register_backends", "cachekit_register_url_schemes"]


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("redis", "cachekit_redis._backend:RedisBackend")
