"""The built-in logging observer and a metrics observer like the one in the docs."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pluggy
import pytest
from cachekit import Cache, CacheEvent, disable_logging, enable_logging, hookimpl


def test_logging_observer_logs_each_kind_without_values(
    pm: pluggy.PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    enable_logging(plugins=pm)
    cache = Cache(plugins=pm)

    @cache.cached("completion")
    def complete(**request: Any) -> dict[str, str]:
        return {"content": "the secret answer"}

    with caplog.at_level(logging.DEBUG, logger="cachekit.events"):
        complete(model="m", messages=[{"role": "user", "content": "q"}], api_key="sk-live-123")
        complete(model="m", messages=[{"role": "user", "content": "q"}], api_key="sk-live-123")
    kinds = [r.getMessage().split()[1] for r in caplog.records]
    assert kinds == ["miss", "store", "hit"]
    text = caplog.text
    assert "sk-live-123" not in text
    assert "the secret answer" not in text
    assert "backend=local" in text

    disable_logging(plugins=pm)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="cachekit.events"):
        complete(model="m", messages=[{"role": "user", "content": "q"}])
    assert caplog.records == []


class Metrics:
    """The shape of the README's OpenTelemetry example: counters keyed by attributes."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    @hookimpl
    def cachekit_on_hit(self, event: CacheEvent) -> None:
        self.counts["hit", event.call_type, event.backend] += 1

    @hookimpl
    async def cachekit_on_miss(self, event: CacheEvent) -> None:  # async observers work too
        self.counts["miss", event.call_type, event.backend] += 1


@pytest.mark.anyio
async def test_metrics_observer_counts(pm: pluggy.PluginManager) -> None:
    metrics = Metrics()
    pm.register(metrics)
    cache = Cache(plugins=pm)

    @cache.cached("aembedding")
    async def embed(**request: Any) -> dict[str, Any]:
        return {"data": [{"embedding": [0.1], "index": 0}], "model": "e"}

    await embed(model="e", input="hello")
    await embed(model="e", input="hello")
    assert metrics.counts == {
        ("miss", "embedding", "local"): 1,
        ("hit", "embedding", "local"): 1,
    }


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
