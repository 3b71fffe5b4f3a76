"""LiteLLM helpers of the cross-package suite (imported only where LiteLLM is installed)."""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger

__all__ = ["LiteLLMCalls"]


class LiteLLMCalls(CustomLogger):
    """Counts the calls LiteLLM makes to a provider, mocked or not (its pre-call hook
    runs once per call; a hit served by cachekit makes none). LiteLLM's mocked
    embeddings are the exception: they skip the callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        self.calls += 1
