"""``single_flight="distributed"``: one provider call across OS processes.

Each child is a real interpreter (``sys.executable``) that builds a ``Cache`` on a
real redis-server (or a local Redis Cluster) and wraps the real ``AsyncOpenAI`` SDK,
which talks to a loopback :class:`~cachekit.testing.OpenAIServer` in this process.
The server counts the provider calls and holds them in flight (``hold``/``release``)
so that the test acts while a leader's call runs; the waiting processes are seen on
the server as blocked clients (``INFO clients``). No sleeps pass time: the tests wait
for conditions.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer, free_port
from cachekit_redis.testing import RedisClusterServer, RedisServer

REQUEST: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    import openai
    from cachekit import Cache

    async def main(redis_url, base_url, namespace, n, lease, wait, kind):
        cache = Cache(
            type="redis", url=redis_url, namespace=namespace, single_flight="distributed",
            single_flight_lease=float(lease), single_flight_wait=float(wait),
        )
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        if kind == "embedding":  # per-item entries: a list input
            create = cache.cached("aembedding")(client.embeddings.create)
            request = {"model": "text-embedding-3-small", "input": ["a", "b", "c"]}
        else:
            create = cache.cached("acompletion")(client.chat.completions.create)
            request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

        async def one():
            try:
                response = await create(**request)
            except Exception as exc:
                return "error:" + type(exc).__name__
            if kind == "embedding":
                return json.dumps([item.embedding for item in response.data])
            return response.id

        print("ready", flush=True)  # imports done: the parent says when to start
        sys.stdin.readline()
        try:
            print(json.dumps(await asyncio.gather(*(one() for _ in range(int(n))))))
        finally:
            await client.close()
            await cache.aclose()

    asyncio.run(main(*sys.argv[1:]))
    """
)

#: A guard against a hung test, far above what any case needs.
GUARD = 60.0


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def namespace() -> str:
    return f"sf-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def server(provider: OpenAIServer) -> Iterator[OpenAIServer]:
    provider.reset()
    yield provider
    provider.release()


class Children:
    """Child processes sharing one Redis and one provider."""

    def __init__(self, redis_url: str, base_url: str, namespace: str) -> None:
        self.args = [redis_url, base_url, namespace]
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(
        self, n: int, calls: int, lease: float, wait: float = 30.0, kind: str = "chat"
    ) -> list[subprocess.Popen[str]]:
        """``n`` children, started together, ready (imports done) but not yet calling."""
        argv = [sys.executable, "-c", CHILD, *self.args, str(calls), str(lease), str(wait), kind]
        procs = [
            subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(n)
        ]
        self.procs += procs
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.communicate()[1]
        return procs

    @staticmethod
    def go(*procs: subprocess.Popen[str]) -> None:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

    @staticmethod
    def result(proc: subprocess.Popen[str], timeout: float = GUARD) -> list[str]:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        ids: list[str] = json.loads(out.strip().splitlines()[-1])
        return ids

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


@pytest.fixture
def children(redis_server: RedisServer, server: OpenAIServer, namespace: str) -> Iterator[Children]:
    made = Children(redis_server.url, server.base_url, namespace)
    yield made
    made.close()


def blocked_clients(*nodes: RedisServer) -> int:
    """Connections blocked in a command (waiters of the lock), over ``nodes``."""
    return sum(int(node.command("INFO", "clients")["blocked_clients"]) for node in nodes)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def provider_calls(server: OpenAIServer) -> list[Any]:
    return sorted(server.requests, key=lambda r: r.received_at)


def _four_by_fifty(children: Children, server: OpenAIServer, *nodes: RedisServer) -> None:
    server.hold()
    procs = children.spawn(4, calls=50, lease=2.0)
    children.go(*procs)
    server.wait_for_requests(1)  # a leader's provider call is in flight, held
    wait_until(lambda: blocked_clients(*nodes) >= 3, "the three other processes wait")
    server.release()
    ids = [i for proc in procs for i in children.result(proc)]
    assert len(ids) == 200
    assert len(set(ids)) == 1 and not ids[0].startswith("error")
    assert server.count("/chat/completions") == 1


def test_four_processes_of_fifty_identical_misses_make_one_provider_call(
    children: Children, server: OpenAIServer, redis_server: RedisServer
) -> None:
    _four_by_fifty(children, server, redis_server)


def test_four_processes_on_a_redis_cluster_make_one_provider_call(
    redis_cluster: RedisClusterServer, server: OpenAIServer, namespace: str
) -> None:
    cluster_children = Children(redis_cluster.url, server.base_url, namespace)
    try:
        _four_by_fifty(cluster_children, server, *redis_cluster.nodes)
    finally:
        cluster_children.close()


def test_three_processes_of_identical_embedding_batches_make_one_provider_call(
    children: Children, server: OpenAIServer, redis_server: RedisServer
) -> None:
    procs = children.spawn(3, calls=10, lease=2.0, kind="embedding")
    server.hold()
    children.go(*procs)
    server.wait_for_requests(1)
    wait_until(lambda: blocked_clients(redis_server) >= 2, "the two other processes wait")
    server.release()
    answers = [a for proc in procs for a in children.result(proc)]
    assert len(answers) == 30 and len(set(answers)) == 1
    assert len(json.loads(answers[0])) == 3  # every item, in order
    [call] = server.requests
    assert call.path.endswith("/embeddings") and call.json["input"] == ["a", "b", "c"]


def test_a_killed_leader_is_taken_over_by_one_waiter_after_its_lease(
    children: Children, server: OpenAIServer, redis_server: RedisServer
) -> None:
    lease = 1.0
    leader, *waiters = children.spawn(4, calls=20, lease=lease)
    server.hold()
    children.go(leader)
    server.wait_for_requests(1)
    children.go(*waiters)
    wait_until(lambda: blocked_clients(redis_server) >= 3, "the waiters wait on the lock")
    killed_at = time.monotonic()
    leader.kill()  # SIGKILL: no release, no clean-up; only the lease frees the lock
    leader.wait()
    server.release()  # the dead leader's call is answered into a closed socket
    ids = [i for proc in waiters for i in children.result(proc)]
    assert len(set(ids)) == 1 and not ids[0].startswith("error")
    calls = provider_calls(server)
    assert len(calls) == 2  # the dead leader's, then exactly one successor's (no stampede)
    assert calls[1].received_at > killed_at
    delay = calls[1].received_at - killed_at
    print(f"\nleader SIGKILLed: next provider call after {delay:.3f} s (lease {lease} s)")


def test_a_failing_leader_wakes_the_waiters_before_its_lease_ends(
    children: Children, server: OpenAIServer, redis_server: RedisServer
) -> None:
    lease = GUARD * 2  # a waiter that were not woken would outlast the guard below
    leader, *waiters = children.spawn(4, calls=20, lease=lease, wait=lease)
    server.hold()
    server.fail_next(500)
    children.go(leader)
    server.wait_for_requests(1)
    children.go(*waiters)
    wait_until(lambda: blocked_clients(redis_server) >= 3, "the waiters wait on the lock")
    server.release()
    assert children.result(leader) == ["error:InternalServerError"] * 20  # its own callers
    ids = [i for proc in waiters for i in children.result(proc, timeout=GUARD / 2)]
    assert len(set(ids)) == 1 and not ids[0].startswith("error")
    # one waiter took over (one at a time: not one call per waiting process)
    assert [r.status for r in provider_calls(server)] == [500, 200]


@pytest.mark.anyio
async def test_redis_down_calls_still_succeed_uncached(
    server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(
        type="redis", port=free_port(), single_flight="distributed", single_flight_lease=1.0
    )
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    create = cache.cached("acompletion")(client.chat.completions.create)
    try:
        with caplog.at_level(logging.WARNING, logger="cachekit"):
            first = await create(**REQUEST)
            second = await create(**REQUEST)
    finally:
        await client.close()
        await cache.aclose()
    assert first.id != second.id  # both reached the provider: uncached, not failed
    assert server.count("/chat/completions") == 2
    assert cache.stats().errors > 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0].getMessage()


def _two_caches(
    redis_server: RedisServer, namespace: str, lease: float, **options: Any
) -> list[Cache]:
    """Two caches in one process: separate in-process flights, one Redis (like two
    processes, without their start-up cost)."""
    return [
        Cache(
            type="redis",
            url=redis_server.url,
            namespace=namespace,
            single_flight="distributed",
            single_flight_lease=lease,
            **options,
        )
        for _ in range(2)
    ]


def test_sync_callers_renew_the_lease_through_a_call_longer_than_it(
    redis_server: RedisServer, server: OpenAIServer, namespace: str
) -> None:
    caches = _two_caches(redis_server, namespace, lease=0.3)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    creates: list[Any] = [
        cache.cached("completion")(client.chat.completions.create) for cache in caches
    ]
    for create in creates:  # each wrapper's first call learns the function's kind
        create(model="gpt-4o-mini", messages=[{"role": "user", "content": "warm-up"}])
    server.reset()
    results: dict[int, Any] = {}

    def call(i: int) -> None:
        results[i] = creates[i](**REQUEST)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    server.hold()
    threads[0].start()
    server.wait_for_requests(1)
    threads[1].start()
    wait_until(lambda: blocked_clients(redis_server) >= 1, "the second cache waits")
    renewals = redis_server.command_calls("pexpire")
    # six renewals (a third of the lease each): the call has outlasted the lease twice
    wait_until(lambda: redis_server.command_calls("pexpire") >= renewals + 6, "renewals")
    assert server.arrivals == 1  # nobody took over a live leader
    server.release()
    for thread in threads:
        thread.join()
    client.close()
    for cache in caches:
        cache.close()
    assert results[0].id == results[1].id
    assert server.count("/chat/completions") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("options", [{}, {"l1_ttl": 5.0}], ids=["redis", "l1-over-redis"])
async def test_async_callers_renew_the_lease_through_a_call_longer_than_it(
    redis_server: RedisServer, server: OpenAIServer, namespace: str, options: dict[str, Any]
) -> None:
    caches = _two_caches(redis_server, namespace, lease=0.3, **options)
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    creates: list[Any] = [
        cache.cached("acompletion")(client.chat.completions.create) for cache in caches
    ]
    results: list[Any] = []

    async def call(i: int) -> None:
        results.append(await creates[i](**REQUEST))

    def until(condition: Callable[[], bool], what: str) -> Any:
        return anyio.to_thread.run_sync(wait_until, condition, what)

    server.hold()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, 0)
            await anyio.to_thread.run_sync(server.wait_for_requests, 1)
            tg.start_soon(call, 1)
            await until(lambda: blocked_clients(redis_server) >= 1, "the second cache waits")
            renewals = redis_server.command_calls("pexpire")
            await until(lambda: redis_server.command_calls("pexpire") >= renewals + 6, "renewals")
            assert server.arrivals == 1
            server.release()
    finally:
        await client.close()
        for cache in caches:
            await cache.aclose()
    assert results[0].id == results[1].id
    assert server.count("/chat/completions") == 1


@pytest.mark.anyio
async def test_no_store_requests_are_not_coordinated(
    redis_server: RedisServer, server: OpenAIServer, namespace: str
) -> None:
    """The waiters of a ``no-store`` leader would find nothing to read: no lock."""
    caches = _two_caches(redis_server, namespace, lease=GUARD)
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    creates: list[Any] = [
        cache.cached("acompletion")(client.chat.completions.create) for cache in caches
    ]
    server.hold()
    try:
        async with anyio.create_task_group() as tg:
            for create in creates:
                tg.start_soon(functools.partial(create, **REQUEST, cache={"no-store": True}))
            # both calls are in flight at once (a lock would keep the second waiting)
            await anyio.to_thread.run_sync(lambda: server.wait_for_requests(2, timeout=GUARD / 4))
            assert blocked_clients(redis_server) == 0
            server.release()
    finally:
        await client.close()
        for cache in caches:
            await cache.aclose()
    assert server.count("/chat/completions") == 2
