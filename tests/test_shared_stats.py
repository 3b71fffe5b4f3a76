"""Shared counters (``Cache(shared_stats=True)``) against a real ``redis-server``:
three OS processes driving the real ``openai`` SDK through their caches add up
exactly, in the store and in ``cachekit stats --json``; writes are batched to at most
one a second (an injected clock, writes counted by the server); a store that refuses
the writes (a Redis ACL) never breaks a call and is warned about once."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cachekit import Cache, ConfigurationError
from cachekit.testing import FakeClock, OpenAIServer
from cachekit_redis.testing import RedisServer

pytestmark = pytest.mark.anyio

PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}

#: One process: ``prompts`` distinct prompts, each asked ``repeats`` times.
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    import openai
    from cachekit import Cache

    url, base_url, namespace, index, prompts, repeats = sys.argv[1:]
    PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}

    async def main() -> None:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        cache = Cache.from_url(url, namespace=namespace, shared_stats=True, pricing=PRICES)
        async with cache:
            create = cache.cached("acompletion")(client.chat.completions.create)
            for p in range(int(prompts)):
                for _ in range(int(repeats)):
                    text = f"process {index}, prompt {p}"
                    await create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
        await client.close()
        print(json.dumps(cache.stats().as_dict()))

    asyncio.run(main())
    """
)

PLAN = [(2, 3), (3, 2), (1, 5)]  # (prompts, repeats) of each process


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of the test's own, so the SET commands it counts are this test's."""
    with RedisServer() as redis_server:
        yield redis_server


def _cli(*args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    done = subprocess.run(
        [sys.executable, "-m", "cachekit._cli._app", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_three_processes_add_up_exactly(
    redis_server: RedisServer, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    namespace = f"shared-{uuid.uuid4().hex[:10]}"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    base = [sys.executable, str(script), redis_server.url, openai_server.base_url, namespace]
    children = [
        subprocess.Popen(
            [*base, str(i), str(prompts), str(repeats)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, (prompts, repeats) in enumerate(PLAN)
    ]
    own = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        own.append(json.loads(out))
    misses = sum(prompts for prompts, _ in PLAN)
    hits = sum(prompts * (repeats - 1) for prompts, repeats in PLAN)
    assert (misses, hits) == (6, 11)
    assert openai_server.count("/chat/completions") == misses
    assert [s["hits"] for s in own] == [p * (r - 1) for p, r in PLAN]

    doc = _cli("--url", redis_server.url, "--namespace", namespace, "stats")
    counters = doc["counters"]
    assert (counters["processes"], counters["writers"], counters["unreadable"]) == (3, 3, 0)
    assert (counters["hits"], counters["misses"], counters["errors"]) == (hits, misses, 0)
    assert counters["tokens_saved"] == sum(s["tokens_saved"] for s in own) > 0
    assert counters["cost_saved"] == pytest.approx(sum(s["cost_saved"] for s in own))
    assert counters["latency_saved_s"] == pytest.approx(sum(s["latency_saved_s"] for s in own))
    model = counters["by_model"]["gpt-4o-mini"]
    assert (model["hits"], model["misses"]) == (hits, misses)
    assert model["hit_ratio"] == pytest.approx(hits / (hits + misses))
    assert counters["by_call_type"]["completion"]["hits"] == hits
    row = doc["namespaces"][namespace]
    assert (row["hits"], row["misses"], row["entries"]) == (hits, misses, misses)
    assert row["bytes"] > 0
    assert "from 3 processes" in counters["note"]


async def test_at_most_one_write_a_second_plus_one_on_close(server: RedisServer) -> None:
    clock = FakeClock(time.time())
    namespace = f"batch-{uuid.uuid4().hex[:10]}"
    cache = Cache.from_url(server.url, namespace=namespace, shared_stats=True, clock=clock)
    await cache.aset("k", "v")
    shared = cache._engine.shared
    assert shared is not None
    writes = server.command_calls("set")

    async def lookups(n: int) -> None:
        for _ in range(n):
            assert await cache.aget("k") == "v"
        await shared.idle()  # let a background write (if one started) finish

    await lookups(50)  # within the first second: nothing written
    assert server.command_calls("set") == writes
    clock.advance(1.0)
    await lookups(50)  # one write, however many lookups
    assert server.command_calls("set") == writes + 1
    clock.advance(0.5)
    await lookups(50)
    assert server.command_calls("set") == writes + 1
    clock.advance(0.5)
    await lookups(1)
    assert server.command_calls("set") == writes + 2
    await lookups(10)  # counted, not written yet (the last write was just now)
    assert server.command_calls("set") == writes + 2
    clock.advance(60.0)  # time passes without lookups: nothing starts a write
    await shared.idle()
    assert server.command_calls("set") == writes + 2
    await cache.aclose()  # the final snapshot holds them
    assert server.command_calls("set") == writes + 3
    raw = server.client().get(shared.key)
    doc = orjson.loads(raw)
    assert (doc["hits"], doc["misses"], doc["stores"], doc["flushes"]) == (161, 0, 1, 3)
    assert 0 < server.client().pttl(shared.key) <= 30 * 86400 * 1000


async def test_a_store_refusing_the_writes_breaks_nothing_and_warns_once(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A real refusal: this user may use entry keys but not the shared counters' keys.
    server.command("ACL", "SETUSER", "app", "on", ">app-pw", "~cachekit:v2:*", "+@all")
    host = server.url.split("//", 1)[1].split("/", 1)[0]
    url = f"redis://app:app-pw@{host}/0"
    clock = FakeClock(time.time())
    cache = Cache.from_url(url, namespace="acl", shared_stats=True, clock=clock)
    shared = cache._engine.shared
    assert shared is not None
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        await cache.aset("k", 1)
        for _ in range(3):
            clock.advance(1.0)
            assert await cache.aget("k") == 1  # every call still served
            await shared.idle()
        await cache.aclose()
    warnings = [r for r in caplog.records if "shared counters" in r.getMessage()]
    assert len(warnings) == 1
    assert "NOPERM" in warnings[0].getMessage() or "permission" in warnings[0].getMessage()
    stats = cache.stats()
    assert (stats.hits, stats.errors) == (3, 4)  # three flushes and the final one failed
    assert shared.flushes == 0


def test_shared_stats_needs_a_shared_store_and_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="keeps no shared counters"):
        Cache(type="local", shared_stats=True)
    with pytest.raises(ConfigurationError, match="True or False"):
        Cache(type="local", shared_stats="yes")


def test_the_sync_face_writes_its_final_snapshot_on_close(server: RedisServer) -> None:
    cache = Cache.from_url(server.url, namespace="sync-face", shared_stats=True)
    cache.set("k", [1, 2])
    for _ in range(7):
        assert cache.get("k") == [1, 2]
    assert cache.get("absent") is None
    shared = cache._engine.shared
    assert shared is not None
    cache.close()
    doc = orjson.loads(server.client().get(shared.key))
    assert (doc["hits"], doc["misses"], doc["namespace"]) == (7, 1, "sync-face")


async def test_without_a_namespace_stats_shows_every_namespace(server: RedisServer) -> None:
    for namespace, hits in (("team-a", 2), ("team-b", 5)):
        async with Cache.from_url(server.url, namespace=namespace, shared_stats=True) as cache:
            await cache.aset("k", namespace)
            for _ in range(hits):
                assert await cache.aget("k") == namespace
    doc = _cli("--url", server.url, "stats")
    assert doc["scope"] == "all namespaces"
    assert (doc["counters"]["hits"], doc["counters"]["writers"]) == (7, 2)
    rows = doc["namespaces"]
    assert (rows["team-a"]["hits"], rows["team-a"]["entries"]) == (2, 1)
    assert (rows["team-b"]["hits"], rows["team-b"]["entries"]) == (5, 1)
    assert rows["default"]["entries"] == 0  # the CLI's own namespace, with nothing in it
    assert "hits" not in rows["default"]  # no cache of it counted anything
