"""Semantic caches as ``litellm.cache``: ``redis-semantic`` on a real redis-server and
``qdrant-semantic`` in qdrant-client's embedded mode. A reworded prompt is a hit; a
request whose other parameters differ never is. With
``redis_semantic_cache_embedding_model`` the prompt is embedded through LiteLLM's own
``aembedding`` (here: LiteLLM's OpenAI provider on the loopback server), and that
embedding call, which LiteLLM routes through ``litellm.cache`` as well, is an exact
per-item lookup that never recurses into the semantic index. (The loopback server's
vectors are deterministic per text, not semantic: rewordings are tested with
cachekit's default embedder.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import cachekit_litellm
import litellm
import pytest
from cachekit.testing import OpenAIServer
from cachekit_redis.testing import RedisServer

from ._support import Calls, hit

pytestmark = pytest.mark.anyio

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
REWORDED = [{"role": "user", "content": "what is the capital of france"}]
UNRELATED = [{"role": "user", "content": "Write a haiku about databases."}]


@pytest.fixture
async def semantic_cache(
    redis_server: RedisServer, anyio_backend: str
) -> AsyncIterator[cachekit_litellm.Cache]:
    cache = cachekit_litellm.Cache(
        type="redis-semantic",
        host=redis_server.host,
        port=redis_server.port,
        similarity_threshold=0.8,
        namespace=f"s{uuid.uuid4().hex[:12]}",
    )
    yield cache
    await cache.aclose()


def ask(messages: list[dict[str, Any]], **extra: Any) -> Any:
    return litellm.completion(
        model="gpt-4o-mini", messages=messages, mock_response="Paris", **extra
    )


def test_a_reworded_prompt_is_a_semantic_hit(
    semantic_cache: cachekit_litellm.Cache, calls: Calls
) -> None:
    litellm.cache = semantic_cache
    first = ask(CAPITAL)
    reworded = ask(REWORDED)
    assert hit(reworded) and reworded.id == first.id
    assert not hit(ask(UNRELATED))
    assert not hit(ask(REWORDED, temperature=0.9))  # never across other parameters
    assert not hit(litellm.completion(model="gpt-4o", messages=REWORDED, mock_response="Paris"))
    assert calls.calls == 4
    assert semantic_cache.stats().errors == 0


async def test_a_reworded_prompt_is_a_semantic_hit_async(
    semantic_cache: cachekit_litellm.Cache, calls: Calls
) -> None:
    litellm.cache = semantic_cache
    first = await litellm.acompletion(model="gpt-4o-mini", messages=CAPITAL, mock_response="Paris")
    await cachekit_litellm.wait_for_writes()
    reworded = await litellm.acompletion(
        model="gpt-4o-mini", messages=REWORDED, mock_response="Paris"
    )
    assert hit(reworded) and reworded.id == first.id and calls.calls == 1
    assert semantic_cache.stats().errors == 0


def test_an_embedding_model_embeds_through_litellm_without_recursion(
    redis_server: RedisServer, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cache = cachekit_litellm.Cache(
        type="redis-semantic",
        host=redis_server.host,
        port=redis_server.port,
        similarity_threshold=0.8,
        redis_semantic_cache_embedding_model="openai/text-embedding-3-small",
        namespace=f"s{uuid.uuid4().hex[:12]}",
    )
    litellm.cache = cache
    try:
        first = ask(CAPITAL)
        embedded = [
            r.json["input"] for r in openai_server.requests if r.path.endswith("/embeddings")
        ]
        assert len(embedded) == 1 and CAPITAL[0]["content"] in embedded[0][0]
        # Another temperature: no match, exact or semantic. The prompt is embedded again,
        # through litellm.aembedding, whose call litellm.cache (this cache) answers.
        assert not hit(ask(CAPITAL, temperature=0.5))
        assert openai_server.count("/embeddings") == 1
        again = ask(CAPITAL)
        assert hit(again) and again.id == first.id
        assert cache.stats().errors == 0
    finally:
        cache.close()


def test_qdrant_semantic_is_litellms_cache(calls: Calls) -> None:
    cache = cachekit_litellm.Cache(
        type="qdrant-semantic",
        qdrant_collection_name=f"c{uuid.uuid4().hex[:12]}",
        similarity_threshold=0.8,
    )
    litellm.cache = cache
    try:
        first = ask(CAPITAL)
        reworded = ask(REWORDED)
        assert hit(reworded) and reworded.id == first.id and calls.calls == 1
        assert cache.stats().errors == 0
    finally:
        cache.close()
