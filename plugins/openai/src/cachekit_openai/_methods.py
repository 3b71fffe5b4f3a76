"""Which SDK methods ``wrap`` caches, under which names, and what goes into their keys.

One table (:data:`METHODS`) drives everything: the names ``call_types=`` accepts,
where each method lives on the client (``chat.completions`` → ``create``), and the
cachekit call family its entries belong to (the ``a``-prefixed twin for async
clients, so a sync and an async client share entries).

Keys hold the request's parameters (the core's rules) plus the client's endpoint:
``base_url`` (user and password removed) and, for Azure clients, the
``api-version`` and the deployment. The API key, organisation, project and headers
never go in: they choose who pays, not what the model answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import openai
from cachekit import ConfigurationError

__all__ = ["CALL_TYPES", "METHODS", "Method", "client_key_params", "enabled_methods"]


@dataclass(frozen=True)
class Method:
    """One cached SDK method."""

    #: The name ``call_types=`` knows it by.
    name: str
    #: The resource path from the client (``("chat", "completions")``).
    path: tuple[str, ...]
    #: The method's attribute on that resource.
    attr: str
    #: cachekit's call family (``"completion"``…); async clients use ``"a" + family``.
    family: str
    #: Extra key parameters telling this method's entries from another method's that
    #: sends the same request (``parse`` rebuilds ``ParsedChatCompletion``, ``create``
    #: ``ChatCompletion``: their entries are kept apart).
    marker: Mapping[str, str] = field(default_factory=dict)

    def call_type(self, is_async: bool) -> str:
        return f"a{self.family}" if is_async else self.family


METHODS: tuple[Method, ...] = (
    Method("chat", ("chat", "completions"), "create", "completion"),
    Method(
        "parse",
        ("chat", "completions"),
        "parse",
        "completion",
        {"openai_method": "chat.completions.parse"},
    ),
    Method("completions", ("completions",), "create", "text_completion"),
    Method("embeddings", ("embeddings",), "create", "embedding"),
    Method("transcriptions", ("audio", "transcriptions"), "create", "transcription"),
    Method("responses", ("responses",), "create", "responses"),
)

#: Every name ``wrap(..., call_types=...)`` accepts.
CALL_TYPES: tuple[str, ...] = tuple(m.name for m in METHODS)


def enabled_methods(call_types: Iterable[str] | str | None) -> tuple[Method, ...]:
    """The methods ``call_types`` selects (``None``: all of them). An unknown name, or
    something that is not a collection of names, is a ``ConfigurationError``."""
    if call_types is None:
        return METHODS
    if isinstance(call_types, str):  # one name, not its letters
        names: list[Any] = [call_types]
    else:
        try:
            names = list(call_types)
        except TypeError:
            raise ConfigurationError(
                f"call_types must be a collection of names out of {', '.join(CALL_TYPES)}; "
                f"got {call_types!r}"
            ) from None
    unknown = [n for n in names if not isinstance(n, str) or n not in CALL_TYPES]
    if unknown:
        raise ConfigurationError(
            f"unknown call type(s) {', '.join(map(repr, unknown))} for cachekit_openai.wrap; "
            f"known: {', '.join(CALL_TYPES)}"
        )
    chosen = set(names)
    return tuple(m for m in METHODS if m.name in chosen)


def client_key_params(client: openai.OpenAI | openai.AsyncOpenAI) -> dict[str, Any]:
    """The client's part of every key, read at call time (the client's ``base_url``
    may be changed after ``wrap``)."""
    url = client.base_url
    if url.userinfo:  # credentials in the URL never reach a key
        url = url.copy_with(userinfo=b"")
    params: dict[str, Any] = {"base_url": str(url)}
    if isinstance(client, openai.AzureOpenAI | openai.AsyncAzureOpenAI):
        version = client.default_query.get("api-version", getattr(client, "_api_version", None))
        params["azure_api_version"] = version
        # Usually part of base_url already; kept explicit for clients whose base_url was
        # overridden while the SDK still routes by the deployment.
        params["azure_deployment"] = getattr(client, "_azure_deployment", None)
    return params
