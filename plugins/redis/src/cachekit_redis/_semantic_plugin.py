"""The ``redis-semantic`` hook implementation (its own ``cachekit`` entry point).

numpy is imported only when a ``redis-semantic`` backend is built, so loading the
plugin (which happens on every ``import cachekit`` with autoloading) stays cheap.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from cachekit import ConfigurationError, hookimpl
from cachekit.hookspecs import RegisterBackend

from cachekit_redis._backend import RedisBackend

if TYPE_CHECKING:
    from cachekit_redis._semantic import RedisSemanticBackend

__all__ = ["cachekit_register_backends", "make_redis_semantic_backend"]

_SEMANTIC_OPTIONS = frozenset({"semantic_index", "semantic_prefix", "semantic_max_partitions"})
_ACCEPTED = (
    frozenset(inspect.signature(RedisBackend.__init__).parameters) - {"self"}
) | _SEMANTIC_OPTIONS


def make_redis_semantic_backend(**options: Any) -> RedisSemanticBackend:
    """Factory for ``Cache(type="redis-semantic", ...)``: rejects unknown options by name."""
    unknown = sorted(set(options) - _ACCEPTED)
    if unknown:
        raise ConfigurationError(
            f"redis-semantic backend: unknown option(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(_ACCEPTED))}"
        )
    from cachekit_redis._semantic import RedisSemanticBackend

    return RedisSemanticBackend(**options)


@hookimpl
def cachekit_register_backends(register: RegisterBackend) -> None:
    register("redis-semantic", make_redis_semantic_backend)
