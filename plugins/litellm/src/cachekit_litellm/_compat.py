"""The LiteLLM releases this package is tested with, checked before a cache is built.

What LiteLLM asks of ``litellm.cache`` is not a public interface: its call wrapper
(``litellm.utils.client``) and ``LLMCachingHandler`` call methods such as
``get_cache_key``, ``async_get_cache(cache_key=..., dynamic_cache_object=...)`` and
``async_add_cache_pipeline``, read ``supported_call_types`` and look at ``.cache``, and
all of that moves between releases. An untested release could ask for something else
and be answered wrongly, so it is refused when a :class:`~cachekit_litellm.Cache` is
built: the installed version must be in :data:`TESTED_LITELLM`, and the names this
package relies on must be where it expects them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re

from cachekit import ConfigurationError

__all__ = ["TESTED_LITELLM", "UnsupportedLiteLLMError", "check_litellm", "installed_version"]

#: The LiteLLM releases this package is tested with (also its dependency pin).
TESTED_LITELLM = ">=1.110,<1.111"
_LOWEST = (1, 110)
_BEYOND = (1, 111)

#: LiteLLM's per-item embedding entry format (``EMBEDDING_CACHE_FORMAT_VERSION``).
EMBEDDING_FORMAT = 2

#: ``module: names`` (``Class.attribute`` for attributes of a class) relied upon.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "litellm": (
        "cache",
        "input_callback",
        "success_callback",
        "_async_success_callback",
        "logging_callback_manager",
    ),
    "litellm.caching.caching_handler": (
        "_PENDING_CACHE_WRITES",
        "LLMCachingHandler.async_get_cache",
        "LLMCachingHandler.sync_get_cache",
        "LLMCachingHandler.async_set_cache",
        "LLMCachingHandler.sync_set_cache",
        "LLMCachingHandler._retrieve_from_cache",
        "LLMCachingHandler.add_streaming_response_to_cache",
    ),
    "litellm.caching.caching": (
        "S3Cache",
        "Cache.get_cache_key",
        "Cache.get_cache",
        "Cache.async_get_cache",
        "Cache.add_cache",
        "Cache.async_add_cache",
        "Cache.async_add_cache_pipeline",
        "Cache.supports_async",
        "Cache.get_preset_cache_key_from_kwargs",
    ),
    "litellm.litellm_core_utils.streaming_handler": (
        "CustomStreamWrapper.async_cache_streaming_response",
    ),
    "litellm.caching.redis_cache": ("RedisCache",),
    "litellm.caching.base_cache": ("BaseCache",),
    "litellm.types.caching": (
        "EMBEDDING_CACHE_FORMAT_VERSION",
        "DEFAULT_CACHING_SUPPORTED_CALL_TYPES",
    ),
}

#: Methods of LiteLLM's own ``Cache`` whose keyword this package answers to: the
#: caching handler passes it, so its presence says the calling convention is the same.
_CALLED_WITH = {
    "get_cache": "dynamic_cache_object",
    "async_get_cache": "dynamic_cache_object",
    "async_add_cache": "dynamic_cache_object",
    "async_add_cache_pipeline": "dynamic_cache_object",
}


class UnsupportedLiteLLMError(ConfigurationError):
    """The installed LiteLLM is not a release this package is tested with (or lacks a
    name its cache interface needs); raised when a cache is built, before any I/O."""


def installed_version() -> str:
    """The installed LiteLLM's version string."""
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        raise UnsupportedLiteLLMError(
            f"cachekit-litellm needs LiteLLM installed (pip install 'litellm{TESTED_LITELLM}')"
        ) from None


def _release(version: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version)
    return None if match is None else (int(match[1]), int(match[2]))


def _missing_names() -> list[str]:
    missing: list[str] = []
    for module_name, names in _REQUIRED.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        for dotted in names:
            obj: object = module
            for part in dotted.split("."):
                obj = getattr(obj, part, _MISSING)
                if obj is _MISSING:
                    missing.append(f"{module_name}.{dotted}")
                    break
    if missing:
        return missing
    from litellm.caching.caching import Cache as LiteLLMCache
    from litellm.types.caching import EMBEDDING_CACHE_FORMAT_VERSION

    for method, keyword in _CALLED_WITH.items():
        if keyword not in inspect.signature(getattr(LiteLLMCache, method)).parameters:
            missing.append(f"litellm.caching.caching.Cache.{method}({keyword}=...)")
    if EMBEDDING_CACHE_FORMAT_VERSION != EMBEDDING_FORMAT:
        missing.append(f"EMBEDDING_CACHE_FORMAT_VERSION == {EMBEDDING_FORMAT}")
    return missing


_MISSING = object()
_verified: str | None = None


def check_litellm() -> None:
    """Raise :class:`UnsupportedLiteLLMError` unless the installed LiteLLM is a tested
    release with every name this package relies on (checked once per version)."""
    global _verified
    version = installed_version()
    if version == _verified:
        return
    release = _release(version)
    if release is None or not (_LOWEST <= release < _BEYOND):
        raise UnsupportedLiteLLMError(
            f"cachekit-litellm supports LiteLLM {TESTED_LITELLM}, but {version} is installed: "
            "LiteLLM's cache interface is internal and changes between releases. Install "
            f"'litellm{TESTED_LITELLM}', or a cachekit-litellm release tested with {version}"
        )
    missing = _missing_names()
    if missing:
        raise UnsupportedLiteLLMError(
            f"LiteLLM {version} lacks what cachekit-litellm relies on: {', '.join(missing)}. "
            f"Reinstall 'litellm{TESTED_LITELLM}'"
        )
    _verified = version
