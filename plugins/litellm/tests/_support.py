"""Helpers of the cachekit-litellm tests: LiteLLM's callbacks counted, waiting for
LiteLLM's background work, the requests the tests send."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import cachekit_litellm
from litellm.integrations.custom_logger import CustomLogger

__all__ = [
    "CHAT",
    "Calls",
    "MakeCache",
    "eventually",
    "eventually_sync",
    "flush_litellm",
    "hit",
]

#: ``make_cache(**options)``: a ``cachekit_litellm.Cache`` on the test's backend.
MakeCache = Callable[..., cachekit_litellm.Cache]

#: A chat request as LiteLLM's caching doc sends it (answers come from mock_response).
CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Tell me a joke."}],
}


def hit(response: Any) -> bool:
    """Whether LiteLLM marked ``response`` as served from its cache."""
    return getattr(response, "_hidden_params", {}).get("cache_hit") is True


class Calls(CustomLogger):  # type: ignore[misc]
    """LiteLLM's own callbacks, counted: provider calls (``log_pre_api_call`` runs once
    per call LiteLLM makes, mocked or not) and the ``cache_hit`` of every success event,
    sync and async, as LiteLLM's caching doc reads it (``kwargs["cache_hit"]``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.sync_hits: list[Any] = []
        self.async_hits: list[Any] = []

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        self.calls += 1

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.sync_hits.append(kwargs.get("cache_hit"))

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.async_hits.append(kwargs.get("cache_hit"))


async def flush_litellm() -> None:
    """Let LiteLLM's background work for the calls so far finish: its cache writes and
    its async logging worker (success callbacks)."""
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await cachekit_litellm.wait_for_writes()
    await GLOBAL_LOGGING_WORKER.flush()


async def eventually(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait for work LiteLLM hands to its threads and tasks (success callbacks), with a
    deadline; never used to let time pass."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await flush_litellm()
        await asyncio.sleep(0.005)


def eventually_sync(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """:func:`eventually` for sync tests (LiteLLM's sync callbacks run in a thread pool)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
