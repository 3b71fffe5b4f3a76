"""What ``wrap`` returns: an instance of the client's own class sharing its state,
every attribute passed through, only the listed methods cached, ``with_options``
wrapped too, raw and streaming-response views uncached; argument checking."""

from __future__ import annotations

import inspect
from typing import Any

import cachekit
import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import CALL_TYPES, CachedClient, wrap
from openai.types.chat import ChatCompletion

from ._support import CHAT, same

pytestmark = pytest.mark.anyio

MODEL = "text-embedding-3-small"


@pytest.fixture
def local() -> Cache:
    return Cache(type="local")


# -- the object ------------------------------------------------------------------------
def test_the_wrapped_client_is_an_instance_of_the_clients_class_sharing_its_state(
    local: Cache, client: openai.OpenAI
) -> None:
    wrapped = wrap(client, local)
    assert isinstance(wrapped, openai.OpenAI) and isinstance(wrapped, CachedClient)
    assert type(wrapped) is not type(client) and wrapped is not client
    assert wrapped.api_key == client.api_key and wrapped.base_url == client.base_url
    client.max_retries = 7  # one state: a change to either is seen by both
    assert wrapped.max_retries == 7
    wrapped.timeout = 12.5
    assert client.timeout == 12.5
    assert type(wrap(openai.OpenAI(api_key="k"), local)) is type(wrapped)  # one class per class
    assert "cachekit_openai.wrap(" in repr(wrapped) and "chat" in repr(wrapped)


async def test_async_and_azure_clients_keep_their_class(local: Cache) -> None:
    azure = openai.AzureOpenAI(
        api_key="k", azure_endpoint="https://example.invalid", api_version="2024-10-21"
    )
    async_azure = openai.AsyncAzureOpenAI(
        api_key="k", azure_endpoint="https://example.invalid", api_version="2024-10-21"
    )
    async_client = openai.AsyncOpenAI(api_key="k")
    for plain in (azure, async_azure, async_client):
        wrapped = wrap(plain, local)
        assert isinstance(wrapped, type(plain)) and type(wrapped).__name__ == (
            f"Cached{type(plain).__name__}"
        )
    wrapped_async = wrap(async_client, local)
    assert inspect.iscoroutinefunction(wrapped_async.chat.completions.create)
    assert inspect.iscoroutinefunction(wrapped_async.embeddings.create)
    azure.close()
    await async_azure.close()
    await async_client.close()


def test_the_original_client_stays_uncached(
    local: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, local)
    wrapped.chat.completions.create(**CHAT)
    client.chat.completions.create(**CHAT)
    client.chat.completions.create(**CHAT)
    assert openai_server.count("/chat/completions") == 3
    assert type(client) is openai.OpenAI and local.stats().hits == 0


def test_every_other_attribute_is_the_clients_own(local: Cache, client: openai.OpenAI) -> None:
    wrapped = wrap(client, local)
    for name in ("files", "models", "images", "moderations", "beta", "batches", "vector_stores"):
        assert getattr(wrapped, name) is getattr(client, name), name
    completions = wrapped.chat.completions
    assert completions.messages is client.chat.completions.messages
    assert completions.retrieve == client.chat.completions.retrieve
    assert {"create", "parse", "stream", "with_raw_response"} <= set(dir(completions))
    assert "cached: create, parse" in repr(completions)
    with pytest.raises(AttributeError):
        _ = completions.no_such_method


def test_raw_and_streaming_response_views_are_passed_through_uncached(
    local: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, local)
    raws = [
        wrapped.with_raw_response.chat.completions.create(**CHAT),
        wrapped.chat.completions.with_raw_response.create(**CHAT),
        wrapped.chat.completions.with_raw_response.create(**CHAT),
    ]
    assert openai_server.count("/chat/completions") == 3
    parsed = [raw.parse() for raw in raws]
    assert all(type(p) is ChatCompletion for p in parsed)
    assert len({p.id for p in parsed}) == 3  # three fresh answers
    with wrapped.with_streaming_response.chat.completions.create(**CHAT) as response:
        assert type(response.parse()) is ChatCompletion
    with wrapped.embeddings.with_streaming_response.create(model=MODEL, input=["a"]) as response:
        assert response.http_request.url.path.endswith("/embeddings")
    assert openai_server.count() == 5
    stats = local.stats()
    assert (stats.hits, stats.misses, stats.stores, stats.errors) == (0, 0, 0, 0)


def test_the_sdks_stream_helper_is_passed_through_uncached(
    local: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, local)
    for _ in range(2):
        with wrapped.chat.completions.stream(**CHAT) as stream:
            final = stream.get_final_completion()
        assert final.choices[0].message.content
    assert openai_server.count("/chat/completions") == 2
    assert local.stats().stores == 0


async def test_with_options_returns_a_wrapped_client_sharing_the_entries(
    local: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, local)
    first = await wrapped.chat.completions.create(**CHAT)
    quick = wrapped.with_options(timeout=5, max_retries=1)
    assert isinstance(quick, openai.AsyncOpenAI) and isinstance(quick, CachedClient)
    assert quick.timeout == 5 and wrapped.timeout != 5  # a copy: the original is unchanged
    again = await quick.chat.completions.create(**CHAT)  # timeouts and retries are not keyed
    assert same(again, first) and openai_server.count("/chat/completions") == 1
    copied = wrapped.copy(max_retries=3)
    assert isinstance(copied, CachedClient) and copied.max_retries == 3
    assert same(await copied.chat.completions.create(**CHAT), first)
    assert openai_server.count("/chat/completions") == 1
    assert local.stats().errors == 0


def test_a_context_manager_gives_the_wrapped_client_and_closes_the_shared_pool(
    local: Cache, openai_server: OpenAIServer
) -> None:
    plain = openai.OpenAI(base_url=openai_server.base_url, api_key="sk-test", max_retries=0)
    with wrap(plain, local) as wrapped:
        assert isinstance(wrapped, CachedClient)
        wrapped.chat.completions.create(**CHAT)
        wrapped.chat.completions.create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert plain.is_closed()  # one connection pool: closing the wrapped client closed it


def test_provider_errors_pass_through_and_are_not_stored(
    local: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, local)
    openai_server.fail_next(400)
    with pytest.raises(openai.BadRequestError):
        wrapped.chat.completions.create(**CHAT)
    answer = wrapped.chat.completions.create(**CHAT)
    assert type(answer) is ChatCompletion
    assert openai_server.count("/chat/completions") == 2
    assert local.stats().errors == 0


# -- which methods ---------------------------------------------------------------------
def test_call_types_restrict_what_is_cached(
    local: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, local, call_types=["embeddings"])
    assert wrapped.chat is client.chat  # nothing of chat is cached: the client's own
    wrapped.chat.completions.create(**CHAT)
    wrapped.chat.completions.create(**CHAT)
    wrapped.embeddings.create(model=MODEL, input=["x"])
    wrapped.embeddings.create(model=MODEL, input=["x"])
    assert openai_server.count("/chat/completions") == 2
    assert openai_server.count("/embeddings") == 1


def test_chat_and_parse_are_chosen_separately(
    local: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, local, call_types="parse")  # one name
    assert "cached: parse" in repr(wrapped.chat.completions)
    for _ in range(2):
        wrapped.chat.completions.create(**CHAT)
    assert openai_server.count("/chat/completions") == 2
    assert wrap(client, local, call_types=()).chat is client.chat  # nothing cached


def test_every_documented_call_type_name_is_accepted(local: Cache, client: openai.OpenAI) -> None:
    assert CALL_TYPES == (
        "chat",
        "parse",
        "completions",
        "embeddings",
        "transcriptions",
        "responses",
    )
    wrapped = wrap(client, local, call_types=CALL_TYPES)
    assert "cached: create" in repr(wrapped.audio.transcriptions)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"call_types": ["chat", "images"]}, "'images'.*known: chat, parse"),
        ({"call_types": ["chat.completions.create"]}, "unknown call type"),
        ({"call_types": [1]}, "unknown call type"),
        ({"call_types": 3}, "collection of names"),
        ({"cache": "redis"}, "cachekit.Cache"),
    ],
)
def test_bad_arguments_are_a_value_error_before_any_request(
    client: openai.OpenAI, openai_server: OpenAIServer, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(cachekit.ConfigurationError, match=message) as raised:
        wrap(client, **arguments)
    assert isinstance(raised.value, ValueError)
    assert openai_server.count() == 0


def test_only_openai_clients_can_be_wrapped() -> None:
    with pytest.raises(ValueError, match=r"expects an openai\.OpenAI"):
        wrap(object())  # type: ignore[type-var]


def test_wrapping_a_wrapped_client_rewraps_the_original(
    local: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    other = Cache(type="local")
    twice = wrap(wrap(client, local), other)
    twice.chat.completions.create(**CHAT)
    twice.chat.completions.create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert (other.stats().hits, local.stats().hits + local.stats().misses) == (1, 0)
    assert type(twice).__mro__[1:].count(CachedClient) == 1  # not a wrapper of a wrapper


def test_a_wrapped_client_class_is_not_built_directly(local: Cache, client: openai.OpenAI) -> None:
    with pytest.raises(TypeError, match=r"made by cachekit_openai\.wrap"):
        type(wrap(client, local))(api_key="k")


def test_cached_methods_show_the_sdks_name_and_signature(
    local: Cache, client: openai.OpenAI
) -> None:
    create = wrap(client, local).chat.completions.create
    sdk = client.chat.completions.create
    assert create.__name__ == "create" and create.__doc__ == sdk.__doc__
    assert inspect.signature(create) == inspect.signature(sdk)


async def test_a_method_whose_annotation_cannot_be_evaluated_is_wrapped_as_it_is() -> None:
    from cachekit_openai._sdk import provider_function

    class Resource:
        async def create(self, **kwargs: Any) -> NoSuchType:  # type: ignore[name-defined]  # noqa: F821
            return kwargs

    method = Resource().create
    assert provider_function(method, is_async=True) == method  # the core reads it itself
