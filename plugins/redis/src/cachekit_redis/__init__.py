"""cachekit-redis: the ``redis`` backend for cachekit (standalone, Cluster, Sentinel).

Installing the package is all it takes: ``Cache(type="redis", host=..., port=...)``
or ``Cache.from_url("redis://:pw@host:6379/0")`` find the backend through the
``cachekit`` entry-point group. Reusable test helpers (start a throwaway
``redis-server``, a 3-master Cluster or a Sentinel on free loopback ports) live in
:mod:`cachekit_redis.testing`.

The names below are loaded on first use (module ``__getattr__``): importing the
package, which every process with cachekit does when it registers its plugins,
imports neither redis-py nor numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachekit import lazy_exports

if TYPE_CHECKING:
    from cachekit_redis._backend import RedisBackend
    from cachekit_redis._config import RedisSettings, settings_from_options

__all__ = ["RedisBackend", "RedisSettings", "settings_from_options"]

__version__ = "0.1.0"

#: Public name → the private module that defines it.
_LAZY = {
    "RedisBackend": "cachekit_redis._backend",
    "RedisSettings": "cachekit_redis._config",
    "settings_from_options": "cachekit_redis._config",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no other name
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
