"""cachekit-litellm: LiteLLM's own caching, stored through cachekit.

Change one import and LiteLLM itself reads and writes through cachekit::

    import litellm
    from cachekit_litellm import Cache        # instead of: from litellm.caching.caching import Cache

    litellm.cache = Cache(type="redis", host="localhost", port=6379)
    litellm.completion(model="gpt-4o-mini", messages=[...])   # stored
    litellm.completion(model="gpt-4o-mini", messages=[...])   # a hit

Keys, per-call controls (``cache={"no-cache": True, "ttl": 60, ...}``), lifetimes,
namespaces and fail-open behaviour are cachekit's; LiteLLM still converts hits into
its response types, replays streams and fires its success callbacks with
``cache_hit=True``. ``enable_cache``/``disable_cache``/``update_cache`` work as
LiteLLM documents them and are also context managers.
"""

from __future__ import annotations

from cachekit_litellm._cache import UNKEYABLE, Cache
from cachekit_litellm._compat import TESTED_LITELLM, UnsupportedLiteLLMError
from cachekit_litellm._global import LiteLLMCacheScope, disable_cache, enable_cache, update_cache
from cachekit_litellm._writes import wait_for_writes

__all__ = [
    "Cache",
    "LiteLLMCacheScope",
    "TESTED_LITELLM",
    "UNKEYABLE",
    "UnsupportedLiteLLMError",
    "disable_cache",
    "enable_cache",
    "update_cache",
    "wait_for_writes",
]

__version__ = "0.1.0"
