"""cachekit-openai: a cached OpenAI client in one line.

::

    from openai import AsyncOpenAI
    from cachekit import Cache
    from cachekit_openai import wrap

    client = wrap(AsyncOpenAI(), cache=Cache(type="redis", host="localhost"))
    await client.chat.completions.create(model=..., messages=...)  # cached

:func:`wrap` returns the same client (an instance of a subclass of its class,
sharing its state) with ``chat.completions.create``/``parse``,
``completions.create``, ``embeddings.create``, ``audio.transcriptions.create`` and
``responses.create`` cached. :data:`CALL_TYPES` lists the names ``call_types=``
accepts to cache only some of them.
"""

from __future__ import annotations

from cachekit_openai._client import CachedClient, wrap
from cachekit_openai._methods import CALL_TYPES

__all__ = ["CALL_TYPES", "CachedClient", "wrap"]

__version__ = "0.1.0"
