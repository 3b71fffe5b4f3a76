"""Attribute names and values: the GenAI semantic conventions' where they exist,
``cachekit.*`` for the rest. Nothing here is taken from a request's content except
the model name (bounded by :class:`cachekit.LabelLimit`)."""

from __future__ import annotations

__all__ = [
    "BACKEND",
    "CALL_TYPE",
    "COST_SAVED",
    "ENTRY_AGE",
    "ERROR_TYPE",
    "HIT",
    "INPUT_TOKENS",
    "LATENCY_SAVED",
    "NAMESPACE",
    "OPERATION",
    "OPERATIONS",
    "OUTCOME",
    "OUTPUT_TOKENS",
    "PROVIDER",
    "PROVIDERS",
    "REQUEST_MODEL",
    "SIMILARITY",
    "STALE",
    "SYSTEM",
    "TOKEN_TYPE",
    "TTL",
    "provider_of",
]

# GenAI semantic conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/)
OPERATION = "gen_ai.operation.name"
REQUEST_MODEL = "gen_ai.request.model"
SYSTEM = "gen_ai.system"  # the older name of gen_ai.provider.name; both are set
PROVIDER = "gen_ai.provider.name"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"  # "input" / "output"
# general semantic conventions
ERROR_TYPE = "error.type"
# cachekit's own
CALL_TYPE = "cachekit.call_type"
BACKEND = "cachekit.backend"
NAMESPACE = "cachekit.namespace"
OUTCOME = "cachekit.outcome"
HIT = "cachekit.hit"
STALE = "cachekit.stale"
ENTRY_AGE = "cachekit.entry.age"
SIMILARITY = "cachekit.similarity"
LATENCY_SAVED = "cachekit.latency_saved"
COST_SAVED = "cachekit.cost_saved"
TTL = "cachekit.ttl"

#: cachekit call family → ``gen_ai.operation.name`` (families without one get none).
OPERATIONS = {
    "completion": "chat",
    "text_completion": "text_completion",
    "embedding": "embeddings",
}

#: A LiteLLM-style model prefix (``"anthropic/claude-…"``) → ``gen_ai.provider.name``.
#: A bare model name says nothing certain about its provider: it gets none.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "groq": "groq",
    "mistral": "mistral_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "xai": "x_ai",
}


def provider_of(model: str | None) -> str | None:
    """The provider a ``provider/model`` name names, when it is a known one."""
    if model is None or "/" not in model:
        return None
    return PROVIDERS.get(model.split("/", 1)[0])
