"""cachekit-disk: a persistent, crash-safe, multi-process disk backend for cachekit.

Installing the distribution is all a user does; the ``cachekit`` entry point makes
the type available::

    from cachekit import Cache
    cache = Cache(type="disk", disk_cache_dir="/var/cache/llm")   # or Cache.from_url("disk:///var/cache/llm")

Import :class:`DiskBackend` directly to build one by hand, or to call
:meth:`DiskBackend.prune` (``cache.backend.prune()``). The names are loaded on
first use (module ``__getattr__``), so registering the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachekit import lazy_exports

if TYPE_CHECKING:
    from cachekit_disk._backend import DiskBackend, default_cache_dir

__all__ = ["DiskBackend", "default_cache_dir"]

__version__ = "0.1.0"

#: Public name → the private module that defines it.
_LAZY = {
    "DiskBackend": "cachekit_disk._backend",
    "default_cache_dir": "cachekit_disk._backend",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and no other name
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
