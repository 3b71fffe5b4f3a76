"""The pluggy hook implementations of cachekit-redis (the ``cachekit`` entry point)."""

from __future__ import annotations

import inspect
from typing import Any

from cachekit import ConfigurationError, hookimpl
from cachekit.hookspecs import RegisterBackend

from cachekit_redis._backend import RedisBackend
from cachekit_redis._urls import cachekit_register_url_schemes

__all__ = ["cachekit_register_backends", "cachekit_register_url_schemes", "make_redis_backend"]

_ACCEPTED = frozenset(inspect.signature(RedisBackend.__init__).parameters) - {"self"}


def make_redis_backend(**options: Any) -> RedisBackend:
    """Factory for ``Cache(type="redis", ...)``: rejects unknown options by name."""
    unknown = sorted(set(options) - _ACCEPTED)
    if unknown:
        raise ConfigurationError(
            f"redis backend: unknown option(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(_ACCEPTED))}"
        )
    return RedisBackend(**options)


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("redis", make_redis_backend)
