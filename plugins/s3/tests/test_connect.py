"""``S3Backend.connect()``: the one-time set-up, done before operations (issue 15, item 8).

The core calls ``connect()`` outside the per-operation timeout and the circuit breaker;
after it, operations must only look their client up. The observables are the number of
clients constructed (``LoopClients.constructed``) and, in a fresh process, the modules
imported and the aiohttp sessions opened by the first operations. No timing assertions: speed lives in benchmarks/.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from cachekit_s3 import S3Backend, S3ConfigurationError
from cachekit_s3.testing import MotoServer

pytestmark = pytest.mark.anyio

KEY = "cachekit:v2:default:connect"

# Run in a fresh interpreter, so that nothing is imported or built before the backend.
COLD_PROCESS = """
import asyncio, json, sys
import cachekit_s3._clients as clients
from cachekit_s3 import S3Backend

backend = S3Backend(**json.loads(sys.argv[1]))
preload_started_at_construction = clients._runtime is not None

async def main():
    await backend.connect()
    constructed_by_connect = backend._clients.constructed
    import aiohttp  # loaded by connect(); counts connection pools opened from here on
    pools = []
    open_pool = aiohttp.ClientSession.__init__
    def counting(self, *args, **kwargs):
        pools.append(1)
        open_pool(self, *args, **kwargs)
    aiohttp.ClientSession.__init__ = counting
    before = set(sys.modules)
    key = "cachekit:v2:default:cold"
    first_get = await backend.get(key)
    await backend.set(key, b'{"v": 1}', 60.0)
    second_get = await backend.get(key)
    deleted = await backend.delete(key)
    await backend.set(key, b"{}", None)
    cleared = await backend.clear("cachekit:v2:default:")
    imported = sorted(set(sys.modules) - before)
    aiohttp.ClientSession.__init__ = open_pool
    constructed_after_operations = backend._clients.constructed
    await backend.aclose()
    return {
        "preload_started_at_construction": preload_started_at_construction,
        "constructed_by_connect": constructed_by_connect,
        "constructed_after_operations": constructed_after_operations,
        "imported_by_operations": imported,
        "http_sessions_opened_by_operations": len(pools),
        "results": [first_get, second_get.decode(), deleted, cleared],
    }

print(json.dumps(asyncio.run(main())))
"""


def test_after_connect_the_first_operations_of_a_cold_process_do_no_set_up(
    moto_server: MotoServer, bucket: str
) -> None:
    options = moto_server.options(bucket, s3_path="connect/cold")
    done = subprocess.run(
        [sys.executable, "-c", COLD_PROCESS, json.dumps(options)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    assert report["preload_started_at_construction"] is True
    assert report["constructed_by_connect"] == 1
    assert report["constructed_after_operations"] == 1  # no client built by an operation
    assert report["imported_by_operations"] == []  # no library loading by an operation
    assert report["http_sessions_opened_by_operations"] == 0  # nor a connection pool
    assert report["results"] == [None, '{"v": 1}', True, 1]


async def test_connect_builds_the_client_and_operations_only_use_it(
    s3_options: dict[str, Any],
) -> None:
    backend = S3Backend(**s3_options)
    try:
        assert backend._clients.constructed == 0  # construction does no I/O, builds nothing
        await backend.connect()
        assert backend._clients.constructed == 1
        client = await backend._clients.get()
        assert await backend.get(KEY) is None
        await backend.set(KEY, b"1", None)
        await backend.set_many({f"{KEY}:{i}": b"2" for i in range(5)}, None)
        assert await backend.get_many([KEY, f"{KEY}:0"]) == [b"1", b"2"]
        assert await backend.delete(KEY) is True
        assert await backend.clear("cachekit:v2:default:") == 5
        assert backend._clients.constructed == 1
        assert await backend._clients.get() is client
    finally:
        await backend.aclose()


async def test_connect_twice_or_concurrently_on_one_loop_builds_one_client(
    s3_options: dict[str, Any],
) -> None:
    backend = S3Backend(**s3_options)
    try:
        await asyncio.gather(*(backend.connect() for _ in range(8)))
        assert backend._clients.constructed == 1
        client = await backend._clients.get()
        await backend.connect()
        await backend.connect()
        assert backend._clients.constructed == 1
        assert len(backend._clients) == 1
        assert await backend._clients.get() is client
    finally:
        await backend.aclose()


async def test_operations_without_connect_open_one_client_themselves(
    s3_options: dict[str, Any],
) -> None:
    backend = S3Backend(**s3_options)
    try:
        results = await asyncio.gather(*(backend.get(f"{KEY}:{i}") for i in range(8)))
        assert results == [None] * 8
        assert backend._clients.constructed == 1
        await backend.connect()  # already done: nothing more is built
        assert backend._clients.constructed == 1
    finally:
        await backend.aclose()


def test_each_event_loop_connects_its_own_client(s3_options: dict[str, Any]) -> None:
    backend = S3Backend(**s3_options)

    async def use() -> bytes | None:
        await backend.connect()
        await backend.connect()
        await backend.set(KEY, b"loop", None)
        return await backend.get(KEY)

    assert asyncio.run(use()) == b"loop"
    assert asyncio.run(use()) == b"loop"
    assert backend._clients.constructed == 2  # one per loop, not one per connect()
    assert len(backend._clients) == 0  # each loop closed its client as it ended


async def test_a_failed_connect_raises_a_cachekit_error_and_is_retried(
    s3_options: dict[str, Any],
) -> None:
    backend = S3Backend(**{**s3_options, "s3_config": {"no_such_botocore_option": 1}})
    try:
        for _ in range(2):  # not remembered as connected, nor as broken for good
            with pytest.raises(S3ConfigurationError, match="s3_config is not valid"):
                await backend.connect()
        with pytest.raises(S3ConfigurationError, match="s3_config is not valid"):
            await backend.get(KEY)
        assert backend._clients.constructed == 0
    finally:
        await backend.aclose()
