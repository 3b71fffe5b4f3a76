"""``wrap`` keeps the client's static type, so every SDK method stays typed. Checked
by mypy (``mypy plugins/openai/tests/test_types.py``) and run by pytest so the
examples stay valid at run time."""

from __future__ import annotations

from typing import assert_type

import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap
from openai.types.chat import ChatCompletion


@pytest.mark.anyio
async def test_wrap_keeps_the_clients_type(openai_server: OpenAIServer) -> None:
    async with openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="k") as plain:
        client = wrap(plain, Cache(type="local"))
        assert_type(client, openai.AsyncOpenAI)
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert_type(reply, ChatCompletion)
        assert type(reply) is ChatCompletion


def test_with_options_and_azure_keep_their_types(openai_server: OpenAIServer) -> None:
    with openai.OpenAI(base_url=openai_server.base_url, api_key="k") as plain:
        quick = wrap(plain, Cache(type="local")).with_options(timeout=3)
        assert_type(quick, openai.OpenAI)
        reply = quick.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert type(reply) is ChatCompletion
    azure = wrap(
        openai.AzureOpenAI(api_key="k", azure_endpoint="https://x.invalid", api_version="v"),
        call_types=["chat"],
    )
    assert_type(azure, openai.AzureOpenAI)
    azure.close()
