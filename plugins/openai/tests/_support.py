"""Requests, schemas and helpers shared by the tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx2
import pydantic
from cachekit import Cache

__all__ = [
    "AUDIO",
    "CHAT",
    "AsyncAzureRoutes",
    "AzureRoutes",
    "MakeCache",
    "Weather",
    "same",
]

#: ``make_cache(**options)``: a ``Cache`` on the test's backend, in a namespace of its own.
MakeCache = Callable[..., Cache]

#: A chat request.
CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
}

#: Some bytes the SDK uploads as an audio file.
AUDIO = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 4


class Weather(pydantic.BaseModel):
    """A structured-output schema (``response_format=Weather``)."""

    city: str
    temperature: float
    conditions: list[str]


def same(hit: Any, miss: Any) -> bool:
    """``hit`` is ``miss`` rebuilt: same type, equal, same dumped data."""
    if type(hit) is not type(miss) or hit != miss:
        return False
    if isinstance(miss, pydantic.BaseModel):
        return bool(hit.model_dump(warnings=False) == miss.model_dump(warnings=False))
    return True


# -- Azure ---------------------------------------------------------------------------
_AZURE_PREFIX = re.compile(r"^/openai(/deployments/[^/]+)?")


class AzureRoutes(httpx2.BaseTransport):
    """Sends an Azure client's requests (``/openai/deployments/<d>/chat/completions
    ?api-version=...``) to the loopback server's ``/v1/...`` routes, remembering the
    URL the SDK built. OpenAIServer has no Azure routes; the SDK and HTTP stay real."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.urls: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.urls.append(str(request.url))
        path = _AZURE_PREFIX.sub("/v1", request.url.path)
        request.url = request.url.copy_with(path=path)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncAzureRoutes(httpx2.AsyncBaseTransport):
    """:class:`AzureRoutes` for ``AsyncAzureOpenAI``."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.urls.append(str(request.url))
        path = _AZURE_PREFIX.sub("/v1", request.url.path)
        request.url = request.url.copy_with(path=path)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
