"""LiteLLM's caching API forms on ``cachekit.Cache`` (issue 11, item 7), as users copy
them from LiteLLM's docs: an explicit ``cache_key=``, ``caching=False`` on a call,
``mode="default_off"`` with ``cache={"use-cache": True}``, assigned overrides (sync and
async) honoured by the wrapper, and a semantic cache's embedding model by name."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("litellm", reason="LiteLLM is not installed (e.g. an openai 1.x job)")

import litellm
import openai
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_redis.testing import RedisServer
from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients
from openai.types.chat import ChatCompletion

from ._litellm import LiteLLMCalls
from ._sdk import CHAT, MakeCache, plain

pytestmark = pytest.mark.anyio

REPLY = "It is sunny in Paris."
EMBEDDING_MODEL = "text-embedding-3-small"


@pytest.fixture
def reply() -> Any:
    return litellm.completion(**CHAT, mock_response=REPLY)


# -- explicit keys ------------------------------------------------------------------------


def test_add_cache_and_get_cache_take_an_explicit_cache_key(cache: Cache, reply: Any) -> None:
    cache.add_cache(result=reply, cache_key="paris-weather")
    assert plain(cache.get_cache(cache_key="paris-weather")) == plain(reply)
    assert cache.get_cache(cache_key="rome-weather") is None
    cache.clear()  # the explicit key lives in the cache's namespace
    assert cache.get_cache(cache_key="paris-weather") is None
    assert cache.stats().errors == 0


async def test_the_async_twins_take_an_explicit_cache_key(cache: Cache, reply: Any) -> None:
    await cache.async_add_cache(result=reply, cache_key="paris-weather")
    assert plain(await cache.async_get_cache(cache_key="paris-weather")) == plain(reply)
    assert await cache.async_get_cache(cache_key="rome-weather") is None
    assert cache.stats().errors == 0


def test_a_key_from_get_cache_key_finds_what_add_cache_stored_for_the_request(
    cache: Cache, reply: Any
) -> None:
    cache.add_cache(reply, **CHAT)  # the positional form keeps working
    assert plain(cache.get_cache(**CHAT)) == plain(reply)
    assert plain(cache.get_cache(cache_key=cache.get_cache_key(**CHAT))) == plain(reply)


# -- caching=False ------------------------------------------------------------------------


async def test_caching_false_on_a_call_bypasses_the_cache_read(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    acompletion = cache.cached("acompletion")(litellm.acompletion)
    stored = await acompletion(**CHAT, mock_response=REPLY)
    fresh = await acompletion(**CHAT, mock_response=REPLY, caching=False)
    assert litellm_calls.calls == 2 and fresh.id != stored.id
    assert (await acompletion(**CHAT, mock_response=REPLY)).id == stored.id
    assert litellm_calls.calls == 2
    assert cache.stats().errors == 0


async def test_caching_false_on_a_call_bypasses_the_cache_write(
    cache: Cache, litellm_calls: LiteLLMCalls
) -> None:
    acompletion = cache.cached("acompletion")(litellm.acompletion)
    uncached = await acompletion(**CHAT, mock_response=REPLY, caching=False)
    after = await acompletion(**CHAT, mock_response=REPLY)
    assert litellm_calls.calls == 2 and after.id != uncached.id
    assert cache.stats().errors == 0


async def test_caching_false_bypasses_async_get_cache_and_async_add_cache(
    cache: Cache, reply: Any
) -> None:
    await cache.async_add_cache(reply, **CHAT, caching=False)
    assert await cache.async_get_cache(**CHAT) is None
    await cache.async_add_cache(reply, **CHAT)
    assert await cache.async_get_cache(**CHAT, caching=False) is None
    assert plain(await cache.async_get_cache(**CHAT)) == plain(reply)


# -- mode ---------------------------------------------------------------------------------


async def test_default_off_caches_only_calls_that_ask_for_it(
    make_cache: MakeCache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    cache = make_cache(mode="default_off")
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    await create(**CHAT)
    await create(**CHAT)
    assert openai_server.count("/chat/completions") == 2
    first = await create(**CHAT, cache={"use-cache": True})
    again = await create(**CHAT, cache={"use-cache": True})
    assert openai_server.count("/chat/completions") == 3
    assert type(again) is ChatCompletion and again == first
    assert "cache" not in openai_server.requests[-1].json  # never sent to the provider
    assert cache.stats().errors == 0


def test_default_on_is_the_default_and_an_unknown_mode_is_rejected(
    make_cache: MakeCache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    with pytest.raises(ValueError, match="mode"):
        make_cache(mode="sometimes")
    cache = make_cache(mode="default_on")
    create = cache.cached("completion")(client.chat.completions.create)
    assert create(**CHAT) == create(**CHAT)
    assert openai_server.count("/chat/completions") == 1


# -- assigned overrides -------------------------------------------------------------------


async def test_assigned_async_get_and_add_cache_are_used_by_the_wrapper(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    store: dict[str, Any] = {}

    async def get_cached(**request: Any) -> Any:
        return store.get(request["messages"][-1]["content"])

    async def add_cached(result: Any, **request: Any) -> None:
        store[request["messages"][-1]["content"]] = result

    cache.async_get_cache = get_cached  # type: ignore[method-assign]
    cache.async_add_cache = add_cached  # type: ignore[method-assign]
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    first = await create(**CHAT)
    again = await create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert list(store) == [CHAT["messages"][-1]["content"]]
    assert type(again) is ChatCompletion and again == first


async def test_an_assigned_async_get_cache_key_decides_the_key(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    seen: list[dict[str, Any]] = []

    async def key_for(**request: Any) -> str:
        seen.append(request)
        return "weather-question"

    cache.async_get_cache_key = key_for  # type: ignore[attr-defined]
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    first = await create(**CHAT)
    again = await create(**CHAT, temperature=0.5)  # another request, the same chosen key
    assert openai_server.count("/chat/completions") == 1
    assert again == first and seen[0]["messages"] == CHAT["messages"]
    assert await cache.async_get_cache(cache_key="weather-question") is not None
    assert await cache.async_get_cache(**CHAT, top_p=0.1) is not None  # the override keys it too
    assert cache.stats().errors == 0


def test_assigned_sync_overrides_are_used_by_a_sync_clients_wrapper(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    store: dict[str, Any] = {}
    cache.get_cache_key = lambda **request: f"k-{request['model']}"  # type: ignore[method-assign]
    cache.get_cache = lambda **request: store.get(request["model"])  # type: ignore[method-assign]
    cache.add_cache = lambda result, **request: store.__setitem__(request["model"], result)  # type: ignore[method-assign]
    create = cache.cached("completion")(client.chat.completions.create)
    first = create(**CHAT)
    again = create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert type(again) is ChatCompletion and again == first and list(store) == ["gpt-4o-mini"]


# -- a semantic cache's embedding model by name -------------------------------------------


@pytest.fixture
async def litellm_clients_closed() -> AsyncIterator[None]:
    """LiteLLM keeps the HTTP clients it creates; close them on the test's own loop."""
    yield
    await close_litellm_async_clients()
    litellm.in_memory_llm_clients_cache.flush_cache()


@pytest.mark.parametrize(
    ("semantic_type", "option"),
    [
        ("local-semantic", "qdrant_semantic_cache_embedding_model"),
        ("local-semantic", "redis_semantic_cache_embedding_model"),
        ("redis-semantic", "redis_semantic_cache_embedding_model"),
    ],
)
@pytest.mark.usefixtures("litellm_clients_closed")
async def test_a_named_embedding_model_embeds_through_the_configured_endpoint(
    semantic_type: str,
    option: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    aclient: openai.AsyncOpenAI,
    openai_server: OpenAIServer,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    options: dict[str, Any] = {option: EMBEDDING_MODEL, "namespace": f"t{uuid.uuid4().hex}"}
    if semantic_type == "redis-semantic":
        server: RedisServer = request.getfixturevalue("redis_server")
        options.update(host=server.host, port=server.port)
    cache = Cache(type=semantic_type, **options)
    try:
        create = cache.cached("acompletion")(aclient.chat.completions.create)
        first = await create(**CHAT)
        again = await create(**CHAT)
        assert openai_server.count("/chat/completions") == 1 and again == first
        embeddings = [r for r in openai_server.requests if r.path.endswith("/embeddings")]
        assert embeddings and {r.json["model"] for r in embeddings} == {EMBEDDING_MODEL}
        assert cache.stats().errors == 0
    finally:
        await cache.aclose()


def test_a_named_embedding_model_without_litellm_or_openai_asks_for_an_embedder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Neither package importable (beside the real-endpoint test above): a clear error.
    monkeypatch.setitem(sys.modules, "litellm", None)
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ValueError, match="embedder="):
        Cache(type="local-semantic", qdrant_semantic_cache_embedding_model=EMBEDDING_MODEL)
