"""Outages on a real server: killed (SIGKILL), hung (SIGSTOP), back on the same port.

Wrapped provider calls must keep returning provider results, each within the
cache's per-operation budget, and caching must resume by itself on the same
``Cache`` once the server is back. The key-value API is not fail-open: it raises.
The circuit breaker's clock is injected, so no test waits out a cool-down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from cachekit import BackendError, BackendTimeoutError, BackendUnavailableError, Cache
from cachekit.testing import FakeClock
from cachekit_redis.testing import RedisServer

OP_TIMEOUT = 0.3
#: A wrapped call does at most a read and a write, each bounded by the op timeout.
CALL_BOUND = 2 * OP_TIMEOUT + 0.5
REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
    ],
}

Provider = Callable[..., Awaitable[dict[str, int]]]


def wrapped_provider(cache: Cache) -> tuple[Provider, list[int]]:
    """A fake provider (the LLM is not the subject here) wrapped by the real cache."""
    calls: list[int] = []

    @cache.cached("acompletion")
    async def provider(**kwargs: Any) -> dict[str, int]:
        calls.append(1)
        return {"answer": len(calls)}

    return provider, calls


def make_cache(server: RedisServer, clock: FakeClock) -> Cache:
    return Cache.from_url(server.url, timeout=OP_TIMEOUT, breaker={"clock": clock})


@pytest.mark.anyio
async def test_killed_server_costs_nothing_and_caching_resumes(
    fresh_redis_server: RedisServer,
) -> None:
    server, clock = fresh_redis_server, FakeClock(start=0.0)
    async with make_cache(server, clock) as cache:
        provider, calls = wrapped_provider(cache)
        assert await provider(**REQUEST) == {"answer": 1}
        assert await provider(**REQUEST) == {"answer": 1}  # a hit
        assert len(calls) == 1

        server.kill()
        with anyio.fail_after(CALL_BOUND):
            with pytest.raises(BackendUnavailableError):  # the KV API raises
                await cache.aget("anything")
        for expected in range(2, 7):
            with anyio.fail_after(CALL_BOUND):
                assert await provider(**REQUEST) == {"answer": expected}  # uncached
        # the LLM-call API is fail-open too
        with anyio.fail_after(CALL_BOUND):
            assert await cache.async_get_cache(**REQUEST) is None
            await cache.async_add_cache({"answer": 0}, **REQUEST)
        assert cache.stats().errors > 0

        server.start()  # same port, empty (persistence is off)
        clock.advance(60.0)  # past the circuit breaker's cool-down
        assert await provider(**REQUEST) == {"answer": 7}  # a miss: stored again
        assert await provider(**REQUEST) == {"answer": 7}  # and hit, same Cache object
        assert len(calls) == 7
        assert await cache.aclear() == 1


@pytest.mark.anyio
async def test_hung_server_costs_at_most_the_op_timeout(fresh_redis_server: RedisServer) -> None:
    server, clock = fresh_redis_server, FakeClock(start=0.0)
    async with make_cache(server, clock) as cache:
        await cache.aset("a", "value-of-a")
        await cache.aset("b", "value-of-b")
        provider, calls = wrapped_provider(cache)

        server.pause()  # the kernel still accepts connections; nobody answers
        try:
            with anyio.fail_after(CALL_BOUND):
                with pytest.raises(BackendTimeoutError):
                    await cache.aget("a")
            with anyio.fail_after(CALL_BOUND):
                assert await provider(**REQUEST) == {"answer": 1}
        finally:
            server.resume()

        clock.advance(60.0)
        # The reply to the cancelled GET a must not be read as the answer to GET b.
        assert await cache.aget("b") == "value-of-b"
        assert await cache.aget("a") == "value-of-a"
        assert await provider(**REQUEST) == {"answer": 2}  # stored now
        assert await provider(**REQUEST) == {"answer": 2}
        assert len(calls) == 2
        await cache.aclear()


@pytest.mark.anyio
async def test_backend_alone_reconnects_after_restart(fresh_redis_server: RedisServer) -> None:
    """No breaker, no Cache: the backend itself raises while Redis is down and
    works again on the next call once it is back (stale pooled connections are
    replaced by the one immediate retry)."""
    from cachekit_redis import RedisBackend

    server = fresh_redis_server
    backend = RedisBackend(url=server.url)
    try:
        await backend.set("k", b"before", None)
        server.kill()
        with anyio.fail_after(CALL_BOUND):
            with pytest.raises(BackendUnavailableError):
                await backend.get("k")
        with pytest.raises(BackendError):
            await backend.get_many(["k", "j"])
        server.start()
        assert await backend.get("k") is None  # restarted empty, and no error
        await backend.set("k", b"after", 5.0)
        assert await backend.get("k") == b"after"
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_stale_pooled_connections_do_not_fail_the_first_call_after_restart(
    fresh_redis_server: RedisServer,
) -> None:
    server = fresh_redis_server
    from cachekit_redis import RedisBackend

    backend = RedisBackend(url=server.url)
    try:
        await backend.set("k", b"v", None)  # a pooled, now idle connection
        server.stop()
        server.start()  # the pooled connection is dead, the server is fine
        assert await backend.get("k") is None
    finally:
        await backend.aclose()
