"""pytest fixtures for a plugin's tests that drive the real ``openai`` SDK.

Import them into a ``conftest.py`` (``from cachekit.testing import
async_openai_client, openai_client, openai_server, openai_server_session``):
``openai_server`` is the session's :class:`OpenAIServer` (``openai_server_session``),
reset (no recorded requests, no pending faults) for each test;
``async_openai_client`` and ``openai_client`` are an ``openai.AsyncOpenAI`` and an
``openai.OpenAI`` on it with no retries, so a request counted at the server is one call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from cachekit.testing._openai import OpenAIServer

if TYPE_CHECKING:
    import openai

__all__ = [
    "OPENAI_TEST_KEY",
    "async_openai_client",
    "openai_client",
    "openai_server",
    "openai_server_session",
]

#: The API key the client sends (tests check it never reaches a key, label or log).
OPENAI_TEST_KEY = "sk-test-not-a-secret"


@pytest.fixture(scope="session")
def openai_server_session() -> Iterator[OpenAIServer]:
    """One server for the whole session (use ``openai_server`` in tests)."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def openai_server(openai_server_session: OpenAIServer) -> Iterator[OpenAIServer]:
    """The session's server with no recorded requests and no pending faults."""
    openai_server_session.reset()
    yield openai_server_session
    openai_server_session.reset()


@pytest.fixture
async def async_openai_client(openai_server: OpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    """An ``openai.AsyncOpenAI`` on ``openai_server`` (no retries)."""
    import openai

    async with openai.AsyncOpenAI(
        base_url=openai_server.base_url, api_key=OPENAI_TEST_KEY, max_retries=0
    ) as client:
        yield client


@pytest.fixture
def openai_client(openai_server: OpenAIServer) -> Iterator[openai.OpenAI]:
    """An ``openai.OpenAI`` (sync) on ``openai_server`` (no retries)."""
    import openai

    with openai.OpenAI(
        base_url=openai_server.base_url, api_key=OPENAI_TEST_KEY, max_retries=0
    ) as client:
        yield client
