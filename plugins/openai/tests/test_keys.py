"""What goes into a wrapped client's keys: the request and the client's endpoint
(``base_url``; for Azure, the deployment and ``api-version``), never the API key,
organisation, project or headers, which also never reach the stored bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cachekit
import httpx2
import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap

from ._support import CHAT, AsyncAzureRoutes, AzureRoutes, Weather, same

pytestmark = pytest.mark.anyio

SECRET = "sk-never-stored-0123456789"
API_VERSION = "2024-10-21"


@pytest.fixture
def second_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def _key_of(result: object) -> str:
    info = cachekit.cache_info(result)
    assert info is not None
    return info.key


def test_two_clients_on_two_servers_never_share_an_entry(
    cache: Cache, openai_server: OpenAIServer, second_server: OpenAIServer
) -> None:
    with (
        openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0) as one,
        openai.OpenAI(base_url=second_server.base_url, api_key="k", max_retries=0) as two,
    ):
        first, second = wrap(one, cache), wrap(two, cache)
        a = first.chat.completions.create(**CHAT)
        b = second.chat.completions.create(**CHAT)
        assert openai_server.count("/chat/completions") == 1
        assert second_server.count("/chat/completions") == 1
        assert _key_of(a) != _key_of(b)
        assert same(first.chat.completions.create(**CHAT), a)
        assert same(second.chat.completions.create(**CHAT), b)
        assert openai_server.count() == 1 and second_server.count() == 1
    assert cache.stats().errors == 0


def test_the_key_is_the_requests_plus_the_base_url(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    answer = wrapped.chat.completions.create(**CHAT)
    assert _key_of(answer) == cache.get_cache_key(**CHAT, base_url=str(client.base_url))
    assert _key_of(answer) != cache.get_cache_key(**CHAT)


async def test_parse_keys_carry_the_method_name(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    parsed = await wrap(aclient, cache).chat.completions.parse(**CHAT, response_format=Weather)
    assert _key_of(parsed) == cache.get_cache_key(
        **CHAT,
        response_format=Weather,
        base_url=str(aclient.base_url),
        openai_method="chat.completions.parse",
    )


async def test_a_base_url_changed_after_wrap_changes_the_key(
    cache: Cache,
    aclient: openai.AsyncOpenAI,
    openai_server: OpenAIServer,
    second_server: OpenAIServer,
) -> None:
    wrapped = wrap(aclient, cache)
    await wrapped.chat.completions.create(**CHAT)
    aclient.base_url = second_server.base_url  # the SDK's setter; the state is shared
    moved = await wrapped.chat.completions.create(**CHAT)
    assert second_server.count("/chat/completions") == 1
    assert _key_of(moved) == cache.get_cache_key(**CHAT, base_url=second_server.base_url + "/")
    elsewhere = wrapped.with_options(base_url=openai_server.base_url)
    await elsewhere.chat.completions.create(**CHAT)  # back on the first server: its entry
    assert openai_server.count("/chat/completions") == 1
    assert cache.stats().errors == 0


async def test_credentials_organisation_and_headers_are_not_keyed_nor_stored(
    cache: Cache, openai_server: OpenAIServer
) -> None:
    clients = [
        openai.AsyncOpenAI(base_url=openai_server.base_url, api_key=SECRET, max_retries=0),
        openai.AsyncOpenAI(
            base_url=openai_server.base_url,
            api_key="sk-another-key",
            organization="org-other",
            project="proj-other",
            default_headers={"X-Team": "blue"},
            max_retries=0,
        ),
    ]
    first = await wrap(clients[0], cache).chat.completions.create(**CHAT)
    again = await wrap(clients[1], cache).chat.completions.create(
        **CHAT, extra_headers={"X-Trace": "1"}, timeout=30
    )
    assert openai_server.count("/chat/completions") == 1 and same(again, first)
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    key = _key_of(first)
    stored = await cache.backend.get(key)
    assert stored is not None and len(stored) > 0
    assert SECRET.encode() not in stored and SECRET not in key
    for client in clients:
        await client.close()
    assert cache.stats().errors == 0


async def test_a_password_in_the_base_url_is_neither_keyed_nor_stored(
    cache: Cache, openai_server: OpenAIServer
) -> None:
    with_userinfo = openai_server.base_url.replace("http://", "http://bob:url-Pa55word@")
    async with openai.AsyncOpenAI(base_url=with_userinfo, api_key="k", max_retries=0) as client:
        answer = await wrap(client, cache).chat.completions.create(**CHAT)
    key = _key_of(answer)
    assert key == cache.get_cache_key(**CHAT, base_url=openai_server.base_url + "/")
    stored = await cache.backend.get(key)
    assert stored is not None and b"url-Pa55word" not in stored


# -- Azure -----------------------------------------------------------------------------
@pytest.fixture
def azure(openai_server: OpenAIServer) -> Iterator[Callable[..., openai.AzureOpenAI]]:
    """``azure(**options)``: an AzureOpenAI client on the loopback server (closed after)."""
    made: list[openai.AzureOpenAI] = []
    routes = AzureRoutes()

    def make(**options: Any) -> openai.AzureOpenAI:
        settings: dict[str, Any] = {
            "azure_endpoint": f"http://{openai_server.host}:{openai_server.port}",
            "azure_deployment": "gpt4o-prod",
            "api_version": API_VERSION,
            "api_key": SECRET,
            "max_retries": 0,
            **options,
        }
        client = openai.AzureOpenAI(http_client=httpx2.Client(transport=routes), **settings)
        client.routes = routes  # type: ignore[attr-defined]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_azure_keys_hold_the_deployment_and_api_version_not_the_key(
    cache: Cache, openai_server: OpenAIServer, azure: Callable[..., openai.AzureOpenAI]
) -> None:
    plain = azure()
    prod = wrap(plain, cache)
    first = prod.chat.completions.create(**CHAT)
    built = plain.routes.urls[0]  # type: ignore[attr-defined]
    assert built.endswith(
        f"/openai/deployments/gpt4o-prod/chat/completions?api-version={API_VERSION}"
    )
    assert openai_server.requests[0].headers["api-key"] == SECRET
    other_key = wrap(azure(api_key="another-azure-key"), cache)
    assert same(other_key.chat.completions.create(**CHAT), first)
    assert openai_server.count("/chat/completions") == 1
    for changed in ({"azure_deployment": "gpt4o-canary"}, {"api_version": "2025-01-01-preview"}):
        wrap(azure(**changed), cache).chat.completions.create(**CHAT)
    assert openai_server.count("/chat/completions") == 3
    assert _key_of(first) == cache.get_cache_key(
        **CHAT,
        base_url=str(prod.base_url),
        azure_api_version=API_VERSION,
        azure_deployment="gpt4o-prod",
    )
    assert cache.stats().errors == 0


async def test_async_azure_caches_embeddings_and_responses(
    cache: Cache, openai_server: OpenAIServer
) -> None:
    routes = AsyncAzureRoutes()
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=f"http://{openai_server.host}:{openai_server.port}",
        api_version=API_VERSION,
        api_key=SECRET,
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=routes),
    ) as plain:
        wrapped = wrap(plain, cache)
        assert isinstance(wrapped, openai.AsyncAzureOpenAI)
        for _ in range(2):
            await wrapped.embeddings.create(model="embed-deployment", input=["a", "b"])
            await wrapped.responses.create(model="gpt4o-prod", input="Say hi")
        assert openai_server.count("/embeddings") == 1 and openai_server.count("/responses") == 1
        # No deployment on the client: the SDK routes by model, which is in the key.
        assert "/openai/deployments/embed-deployment/embeddings?" in routes.urls[0]
        quick = wrapped.with_options(timeout=5)  # Azure's own copy(), wrapped again
        assert isinstance(quick, openai.AsyncAzureOpenAI)
        await quick.responses.create(model="gpt4o-prod", input="Say hi")
        assert openai_server.count("/responses") == 1
    assert cache.stats().errors == 0
