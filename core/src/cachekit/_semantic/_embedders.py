"""Embedders: the dependency-free default and an adapter for OpenAI-style endpoints.

An embedder is any ``async (texts: list[str]) -> list[list[float]]`` callable.
Registered ones (``cachekit_register_embedders``) are selected by name:
``Cache(type="redis-semantic", embedder="hash")``.

``hash`` (the default) needs nothing and works offline: lowercase word unigrams
and bigrams plus character 3- to 5-grams, each hashed (CRC-32, stable across
processes) into ``dim`` signed buckets, then L2-normalised. It recognises
rewordings that share surface form ("What is the capital of France?" / "what is
the capital of france"), not paraphrases with different words; plug in a model
embedder (:func:`openai_embedder`) for those.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from zlib import crc32

from cachekit.exceptions import ConfigurationError
from cachekit.hookspecs import RegisterBackend, hookimpl

__all__ = ["Embedder", "HashEmbedder", "model_embedder", "normalise", "openai_embedder"]

Embedder = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]

_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [float(x) / norm for x in vector] if norm else [0.0 for _ in vector]


class HashEmbedder:
    """Hashed word and character n-grams, L2-normalised (see the module docstring)."""

    def __init__(self, dim: int = 384) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 8:
            raise ConfigurationError(f"hash embedder: dim must be an int ≥ 8, got {dim!r}")
        self.dim = dim

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        feats: list[tuple[str, float]] = [("w:" + w, 1.0) for w in words]
        feats += [("b:" + a + " " + b, 1.0) for a, b in itertools.pairwise(words)]
        joined = " " + " ".join(words) + " "
        for n in (3, 4, 5):
            feats += [("c:" + joined[i : i + n], 0.5) for i in range(len(joined) - n + 1)]
        return feats

    def embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        dim = self.dim
        # Repeated features (common in long prompts) are hashed once.
        counts: dict[str, float] = {}
        for feature, weight in self._features(text):
            counts[feature] = counts.get(feature, 0.0) + weight
        for feature, weight in counts.items():
            h = crc32(feature.encode())  # stable across processes, unlike hash()
            vector[(h >> 1) % dim] += weight if h & 1 else -weight
        return normalise(vector)

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_one(t) for t in texts]


def openai_embedder(create: Callable[..., Any], *, model: str, **options: Any) -> Embedder:
    """Adapt an OpenAI-compatible ``embeddings.create`` (sync or async, e.g.
    ``AsyncOpenAI().embeddings.create`` or ``litellm.aembedding``) into an embedder.
    Vectors are L2-normalised."""

    async def embed(texts: list[str]) -> list[list[float]]:
        response = create(model=model, input=texts, **options)
        if hasattr(response, "__await__"):
            response = await response
        data = response["data"] if isinstance(response, dict) else response.data
        items = sorted(data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
        return [normalise(d["embedding"] if isinstance(d, dict) else d.embedding) for d in items]

    return embed


def model_embedder(model: str) -> Embedder:
    """An embedder for an embedding model name (LiteLLM's
    ``redis_semantic_cache_embedding_model``): through ``litellm.aembedding`` when
    LiteLLM is installed, else the OpenAI SDK (``openai.AsyncOpenAI()``, configured by
    ``OPENAI_API_KEY``/``OPENAI_BASE_URL``). Either is imported on the first embedding,
    not here."""
    if not isinstance(model, str) or not model:
        raise ConfigurationError(f"an embedding model name must be a string, got {model!r}")
    if importlib.util.find_spec("litellm") is not None:

        def create(**kwargs: Any) -> Any:
            import litellm  # type: ignore[import-not-found,unused-ignore]

            return litellm.aembedding(**kwargs)

    elif importlib.util.find_spec("openai") is not None:
        clients: list[Any] = []

        def create(**kwargs: Any) -> Any:
            if not clients:
                import openai  # type: ignore[import-not-found,unused-ignore]

                clients.append(openai.AsyncOpenAI())
            return clients[0].embeddings.create(**kwargs)

    else:
        raise ConfigurationError(
            f"embedding model {model!r} needs litellm or openai installed; "
            "or pass embedder= (a registered name or an async (texts) -> vectors callable)"
        )
    return openai_embedder(create, model=model)


@hookimpl
def cachekit_register_embedders(register: RegisterBackend) -> None:
    register("hash", HashEmbedder)
