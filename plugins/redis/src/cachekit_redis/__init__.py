"""cachekit-redis: the ``redis`` backend for cachekit (standalone, Cluster, Sentinel).

Installing the package is all it takes: ``Cache(type="redis", host=..., port=...)``
or ``Cache.from_url("redis://:pw@host:6379/0")`` find the backend through the
``cachekit`` entry-point group. Reusable test helpers (start a throwaway
``redis-server``, a 3-master Cluster or a Sentinel on free loopback ports) live in
:mod:`cachekit_redis.testing`.
"""

from __future__ import annotations

from cachekit_redis._backend import RedisBackend
from cachekit_redis._config import RedisSettings, settings_from_options

__all__ = ["RedisBackend", "RedisSettings", "settings_from_options"]

__version__ = "0.1.0"
