"""The ``openai`` SDK's chat methods wrapped as they are (issue 11, items 1, 3, 4):
``chat.completions.create`` of sync and async clients, ``chat.completions.parse`` with a
pydantic ``response_format``, legacy ``completions.create``; partials and callable
objects; SDK sentinels and pydantic classes in keys. Hits are counted at the server."""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from typing import Any

import cachekit
import openai
import pydantic
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from openai.types import Completion
from openai.types.chat import ChatCompletion

from ._sdk import CHAT, TOOLS, Weather, assert_same_result

pytestmark = pytest.mark.anyio


async def test_an_async_clients_create_is_cached_when_wrapped_as_it_is(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    first = await create(**CHAT)
    again = await create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert type(first) is ChatCompletion
    assert again == first
    assert_same_result(again, first)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.errors) == (1, 1, 0)


def test_a_sync_clients_create_is_cached_when_wrapped_as_it_is(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("completion")(client.chat.completions.create)
    first = create(**CHAT)
    again = create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert type(first) is ChatCompletion and again == first
    assert_same_result(again, first)
    assert cache.stats().errors == 0


async def test_a_hit_rebuilds_nested_tool_calls_as_the_sdks_objects(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    first = await create(**CHAT, tools=TOOLS)
    again = await create(**CHAT, tools=TOOLS)
    assert openai_server.count("/chat/completions") == 1
    calls = again.choices[0].message.tool_calls
    assert calls and type(calls[0]) is type(first.choices[0].message.tool_calls[0])
    assert again.choices[0].logprobs is None and again.usage == first.usage
    assert_same_result(again, first)
    assert cache.stats().errors == 0


async def test_an_explicit_response_type_rebuilds_hits_into_it(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion", response_type=ChatCompletion)(
        aclient.chat.completions.create
    )
    first = await create(**CHAT)
    again = await create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert type(again) is ChatCompletion and again == first
    assert cache.stats().errors == 0


async def test_different_requests_are_different_entries(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    cold = await create(**CHAT, temperature=0)
    warm = await create(**CHAT, temperature=1)
    assert cold != warm and openai_server.count("/chat/completions") == 2
    assert await create(**CHAT, temperature=1) == warm
    assert openai_server.count("/chat/completions") == 2


async def test_a_partial_of_the_sdk_method_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    ask = cache.cached("acompletion")(
        functools.partial(aclient.chat.completions.create, model="gpt-4o-mini")
    )
    first = await ask(messages=CHAT["messages"])
    again = await ask(messages=CHAT["messages"])
    assert openai_server.count("/chat/completions") == 1
    assert type(again) is ChatCompletion and again == first
    assert cache.stats().errors == 0


class Assistant:
    """A user's callable object forwarding to the SDK: a plain ``def`` whose result
    is the SDK's coroutine (so only the returned value says the call is async)."""

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client

    def __call__(self, **request: Any) -> Awaitable[Any]:
        return self.client.chat.completions.create(**request)


async def test_a_callable_object_returning_the_sdks_coroutine_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    ask = cache.cached("acompletion")(Assistant(aclient))
    first = await ask(**CHAT)
    again = await ask(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert type(again) is ChatCompletion and again == first
    assert cache.stats().errors == 0


async def test_the_module_level_decorator_caches_sdk_calls_in_the_current_cache(
    aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cachekit.cached("acompletion")(aclient.chat.completions.create)
    with cachekit.enable_cache("local") as cache:
        assert cache is not None
        first = await create(**CHAT)
        again = await create(**CHAT)
        assert cache.stats().errors == 0
    assert openai_server.count("/chat/completions") == 1
    assert type(again) is ChatCompletion and again == first


async def test_parse_with_a_pydantic_response_format_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    parse = cache.cached("acompletion")(aclient.chat.completions.parse)
    first = await parse(**CHAT, response_format=Weather)
    again = await parse(**CHAT, response_format=Weather)
    assert openai_server.count("/chat/completions") == 1
    assert isinstance(again.choices[0].message.parsed, Weather)
    assert again.choices[0].message.parsed == first.choices[0].message.parsed
    assert_same_result(again, first)
    assert cache.stats().errors == 0


def test_parse_on_a_sync_client_is_cached(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    parse = cache.cached("completion")(client.chat.completions.parse)
    first = parse(**CHAT, response_format=Weather)
    again = parse(**CHAT, response_format=Weather)
    assert openai_server.count("/chat/completions") == 1
    assert_same_result(again, first)
    assert cache.stats().errors == 0


def _weather_like(name: str, temperature: type[Any]) -> type[pydantic.BaseModel]:
    fields: dict[str, Any] = {
        "city": (str, ...),
        "temperature": (temperature, ...),
        "conditions": (list[str], ...),
    }
    return pydantic.create_model(name, __doc__=Weather.__doc__, **fields)


def test_a_pydantic_response_format_keys_by_its_name_and_json_schema(cache: Cache) -> None:
    key = cache.get_cache_key(**CHAT, response_format=Weather)
    assert key == cache.get_cache_key(**CHAT, response_format=Weather)
    # the same name and schema in another class object: the same request
    assert cache.get_cache_key(**CHAT, response_format=_weather_like("Weather", float)) == key
    # another schema, or another name: another request
    assert cache.get_cache_key(**CHAT, response_format=_weather_like("Weather", int)) != key
    assert cache.get_cache_key(**CHAT, response_format=_weather_like("Forecast", float)) != key
    assert cache.get_cache_key(**CHAT) != key


async def test_a_legacy_text_completion_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("atext_completion")(aclient.completions.create)
    request = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}
    first = await create(**request)
    again = await create(**request)
    assert openai_server.count("/completions") == 1
    assert type(first) is Completion and again == first
    assert_same_result(again, first)
    assert cache.stats().errors == 0


@pytest.mark.parametrize(
    "sentinel",
    [openai.NOT_GIVEN, openai.not_given, openai.omit],
    ids=["NOT_GIVEN", "not_given", "omit"],
)
def test_sdk_sentinels_key_like_absent_parameters(cache: Cache, sentinel: Any) -> None:
    bare = cache.get_cache_key(**CHAT)
    assert cache.get_cache_key(**CHAT, temperature=sentinel) == bare
    assert cache.get_cache_key(**CHAT, temperature=sentinel, tools=sentinel) == bare


async def test_a_call_with_sentinels_hits_the_entry_of_the_call_without(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("acompletion")(aclient.chat.completions.create)
    first = await create(**CHAT, temperature=openai.NOT_GIVEN, tools=openai.omit)
    again = await create(**CHAT)
    assert openai_server.count("/chat/completions") == 1
    assert again == first
    assert cache.stats().errors == 0
