"""cachekit-disk: a persistent, crash-safe, multi-process disk backend for cachekit.

Installing the distribution is all a user does; the ``cachekit`` entry point makes
the type available::

    from cachekit import Cache
    cache = Cache(type="disk", disk_cache_dir="/var/cache/llm")   # or Cache.from_url("disk:///var/cache/llm")

Import :class:`DiskBackend` directly to build one by hand, or to call
:meth:`DiskBackend.prune` (``cache.backend.prune()``).
"""

from __future__ import annotations

from cachekit_disk._backend import DiskBackend, default_cache_dir

__all__ = ["DiskBackend", "default_cache_dir"]
