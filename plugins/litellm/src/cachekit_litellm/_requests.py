"""What LiteLLM hands ``litellm.cache``, turned into a cachekit request.

LiteLLM calls its cache with the call's keyword arguments plus its own bookkeeping
(``litellm_call_id``, a fresh UUID per call; ``litellm_logging_obj``;
``parent_otel_span``; ``dynamic_cache_object``…). cachekit keys are a deny-list (an
unknown parameter is part of the key, because dropping one that changes the answer
serves wrong answers), so LiteLLM's bookkeeping is removed here, and only that:
every parameter that can change the answer stays, LiteLLM's own included
(``api_base``, ``custom_llm_provider``, ``mock_response``, prompt templates…).

The call type comes from LiteLLM's logging object (``"acompletion"``,
``"aembedding"``, ``"aresponses"``…), so keys and statistics name the right family
even where the arguments alone are ambiguous (``input`` is an embedding's and a
Responses call's).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

__all__ = [
    "EMBEDDING_FAMILY",
    "LITELLM_BOOKKEEPING",
    "call_family",
    "call_type_of",
    "content_given",
    "litellm_request",
    "message_count",
    "normalise_controls",
]

#: Parameters only LiteLLM's machinery reads (bookkeeping, logging, tracing, routing,
#: retries, transport, credentials): never part of the provider's answer. cachekit's
#: own deny-list (``cachekit.EXCLUDED_PARAMS``) covers the OpenAI-style ones.
LITELLM_BOOKKEEPING = frozenset(
    {
        # added by LiteLLM's call wrapper and caching handler
        "litellm_call_id",
        "litellm_logging_obj",
        "litellm_params",
        "litellm_trace_id",
        "litellm_session_id",
        "litellm_metadata",
        "litellm_request_debug",
        "litellm_credential_name",
        "litellm_trusted_callback_vars",
        "preset_cache_key",
        "dynamic_cache_object",
        "parent_otel_span",
        "acompletion",
        "aembedding",
        "atext_completion",
        "aimg_generation",
        "atranscription",
        "arerank",
        "aspeech",
        "async_call",
        # logging and tracing
        "metadata",
        "tags",
        "no-log",
        "verbose",
        "logger_fn",
        "proxy_server_request",
        "model_info",
        "turn_off_message_logging",
        # routing, retries, rate limits
        "fallbacks",
        "max_fallbacks",
        "fallback_depth",
        "context_window_fallback_dict",
        "num_retries",
        "max_retries",
        "retry_policy",
        "retry_strategy",
        "cooldown_time",
        "max_parallel_requests",
        "rpm",
        "tpm",
        "order",
        "weight",
        "model_list",
        # transport
        "timeout",
        "request_timeout",
        "stream_timeout",
        "force_timeout",
        "mock_timeout",
        "client_side_timeout",
        "client",
        "use_client",
        "shared_session",
        "ssl_verify",
        "headers",
        "extra_headers",
        # credentials
        "api_key",
        "azure_ad_token",
        "azure_ad_token_provider",
        "azure_username",
        "azure_password",
        "client_id",
        "client_secret",
        "tenant_id",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_profile_name",
        "aws_role_name",
        "aws_web_identity_token",
        "vertex_credentials",
    }
)

#: Parameter-name endings of credentials (``langfuse_secret_key``, ``wandb_api_key``…).
_SECRET_SUFFIXES = ("_api_key", "_secret", "_secret_key", "_password")

#: The family whose list ``input`` LiteLLM caches item by item.
EMBEDDING_FAMILY = "embedding"

#: LiteLLM's spelling of ``s-maxage`` that cachekit's controls do not know.
_CONTROL_ALIASES = {"s-max-age": "s-maxage"}


def _litellm_owned_extras() -> frozenset[str]:
    """LiteLLM's per-call logging and pricing parameters (callback credentials and
    settings, ``input_cost_per_token``…), read from LiteLLM's own types."""
    from litellm.types import utils

    names: set[str] = set()
    callback_params = getattr(utils, "StandardCallbackDynamicParams", None)
    names.update(getattr(callback_params, "__annotations__", {}))
    pricing = getattr(utils, "CustomPricingLiteLLMParams", None)
    names.update(getattr(pricing, "model_fields", {}))
    return frozenset(names)


_extras: frozenset[str] | None = None


def _bookkeeping(name: str) -> bool:
    global _extras
    if name in LITELLM_BOOKKEEPING or name[:1] == "_" or name.endswith(_SECRET_SUFFIXES):
        return True
    if _extras is None:
        _extras = _litellm_owned_extras()
    return name in _extras


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def call_type_of(kwargs: Mapping[str, Any]) -> str | None:
    """The call type: an explicit ``call_type=``, else LiteLLM's logging object's."""
    explicit = _plain(kwargs.get("call_type"))
    if isinstance(explicit, str) and explicit:
        return explicit
    logging_obj = kwargs.get("litellm_logging_obj")
    found = _plain(getattr(logging_obj, "call_type", None))
    return found if isinstance(found, str) and found else None


def call_family(call_type: str | None) -> str | None:
    """``"aembedding"`` → ``"embedding"`` (LiteLLM's async names are ``a`` + the sync one)."""
    if call_type is None:
        return None
    if call_type in {"aembedding", "acompletion", "atext_completion", "atranscription"}:
        return call_type[1:]
    return call_type


def normalise_controls(controls: object) -> object:
    """``cache={...}`` with LiteLLM's aliases spelled as cachekit's (anything else is
    left for cachekit to validate)."""
    if isinstance(controls, Mapping) and any(k in _CONTROL_ALIASES for k in controls):
        return {_CONTROL_ALIASES.get(k, k): v for k, v in controls.items()}
    return controls


def litellm_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request cachekit sees: LiteLLM's bookkeeping removed, ``call_type`` set when
    LiteLLM said it, controls normalised. ``cache``, ``caching`` and ``cache_key`` are
    kept: cachekit reads them (and keeps them out of keys)."""
    request: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in ("cache", "caching", "cache_key"):
            request[name] = normalise_controls(value) if name == "cache" else value
        elif not _bookkeeping(name):
            request[name] = value
    call_type = call_type_of(kwargs)
    if call_type is not None:
        request["call_type"] = call_type
    return request


#: Parameters of a request that are not its content (what an embedding item's lookup,
#: ``async_get_cache(cache_key=...)``, carries and nothing else).
_NOT_CONTENT = frozenset({"cache", "caching", "cache_key", "call_type"})


def content_given(request: Mapping[str, Any]) -> bool:
    """Whether ``request`` says more than its key, controls and call type."""
    return any(name not in _NOT_CONTENT for name in request)


def message_count(kwargs: Mapping[str, Any]) -> int:
    """Messages of a request as LiteLLM's ``max_messages`` counts them: chat
    ``messages``, else the conversation items of a Responses ``input`` list."""
    messages = kwargs.get("messages")
    if isinstance(messages, list):
        return len(messages)
    items = kwargs.get("input")
    if not isinstance(items, list) or call_family(call_type_of(kwargs)) == EMBEDDING_FAMILY:
        return 0
    return sum(
        1
        for item in items
        if hasattr(item, "model_dump") or (isinstance(item, Mapping) and item.get("type") != "file")
    )
