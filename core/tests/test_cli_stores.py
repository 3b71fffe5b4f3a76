"""The ``cachekit`` command against shared stores: a real ``disk`` directory and a
real ``redis-server`` (started on a free loopback port by ``cachekit_redis.testing``).

These show cross-process behaviour: the test process writes through ``Cache`` and
the CLI, a separate process, reads, deletes and clears what it wrote.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cachekit import Cache


def _sibling(name: str) -> ModuleType:
    """The subprocess and terminal helpers of ``test_cli.py`` (tests here are not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"_cachekit_cli_helpers_{name}", Path(__file__).with_name(name)
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _sibling("test_cli.py")
cli, cli_json, Terminal = helpers.cli, helpers.cli_json, helpers.Terminal
assert_one_line_error = helpers.assert_one_line_error

PASSWORD = "cli-Pa55word-never-shown"


@dataclass
class Store:
    name: str
    url: str

    def cache(self, namespace: str, **options: Any) -> Cache:
        return Cache.from_url(self.url, namespace=namespace, **options)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    testing = pytest.importorskip(
        "cachekit_redis.testing", reason="cachekit-redis (plugins/redis) is not installed"
    )
    with testing.RedisServer(password=PASSWORD) as server:
        yield server.url


@pytest.fixture(params=["disk", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "disk":
        pytest.importorskip("cachekit_disk", reason="cachekit-disk (plugins/disk) is not installed")
        return Store("disk", f"disk://{tmp_path / 'cache'}")
    return Store("redis", request.getfixturevalue("redis_url"))


@pytest.fixture
def namespace() -> str:
    """Each test works in a namespace of its own, so a shared server is fine."""
    return f"cli-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- get -------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_get_reads_what_another_process_wrote(store: Store, namespace: str) -> None:
    async with store.cache(namespace) as cache:
        await cache.aset("user-1", {"name": "Ada", "langs": ["en", "fr"]}, ttl=3600)
    code, doc = cli_json("--url", store.url, "--namespace", namespace, "get", "user-1")
    assert code == 0
    assert doc["hit"] is True
    assert doc["key"] == f"cachekit:v2:{namespace}:user-1"
    assert doc["value"] == {"name": "Ada", "langs": ["en", "fr"]}
    assert doc["call_type"] == "kv"
    assert 0 < doc["expires_in_s"] <= 3600

    human = cli("--url", store.url, "--namespace", namespace, "get", "user-1")
    assert human.returncode == 0
    assert '"name": "Ada"' in human.stdout
    assert "expires    in " in human.stdout


@pytest.mark.anyio
async def test_get_by_the_full_key_of_an_llm_call(store: Store, namespace: str) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    result = {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}
    async with store.cache(namespace) as cache:
        await cache.async_add_cache(result, **request)
        key = cache.get_cache_key(**request)
    code, doc = cli_json("--url", store.url, "get", key)  # no --namespace: the key has it
    assert code == 0
    assert doc["key"] == key
    assert doc["namespace"] == namespace
    assert doc["call_type"] == "completion"
    assert doc["value"] == result


@pytest.mark.anyio
async def test_an_expired_entry_is_a_miss(store: Store, namespace: str) -> None:
    # Written by a process whose clock says two hours ago, with a one-hour lifetime:
    # the entry's own expiry has passed, whatever the store still holds.
    async with store.cache(namespace, clock=lambda: time.time() - 7200) as cache:
        await cache.aset("old", "stale", ttl=3600)
    code, doc = cli_json("--url", store.url, "--namespace", namespace, "get", "old")
    assert code == 3
    assert doc["hit"] is False
    if doc.get("expired"):  # the store still held it; the CLI says why it is a miss
        human = cli("--url", store.url, "--namespace", namespace, "get", "old").stdout
        assert human.startswith(f"miss: cachekit:v2:{namespace}:old expired ")


@pytest.mark.anyio
async def test_a_corrupt_entry_is_one_clear_error(store: Store, namespace: str) -> None:
    key = f"cachekit:v2:{namespace}:broken"
    async with store.cache(namespace) as cache:
        await cache.backend.set(key, b"\x80not an envelope", None)
    done = cli("--url", store.url, "get", key)
    assert_one_line_error(done, 1, "not a cachekit entry", "cachekit delete")


# -- delete and clear ----------------------------------------------------------------
@pytest.mark.anyio
async def test_delete_removes_the_entry_for_every_process(store: Store, namespace: str) -> None:
    async with store.cache(namespace) as cache:
        await cache.aset("k", 1)
        code, doc = cli_json("--url", store.url, "--namespace", namespace, "delete", "k")
        assert code == 0
        assert doc == {"key": f"cachekit:v2:{namespace}:k", "deleted": True}
        assert await cache.aget("k") is None
        code, doc = cli_json("--url", store.url, "--namespace", namespace, "delete", "k")
        assert doc["deleted"] is False


@pytest.mark.anyio
async def test_clear_removes_one_namespace_and_reports_the_count(
    store: Store, namespace: str
) -> None:
    other = namespace + "-other"
    async with store.cache(namespace) as cache, store.cache(other) as neighbour:
        await cache.aset_many({f"k{i}": i for i in range(25)})
        await neighbour.aset("kept", True)
        code, doc = cli_json("--url", store.url, "clear", "--namespace", namespace, "--yes")
        assert code == 0
        assert doc["removed"] == 25
        assert doc["namespace"] == namespace
        assert await cache.aget_many([f"k{i}" for i in range(25)]) == [None] * 25
        assert await neighbour.aget("kept") is True


@pytest.mark.anyio
async def test_clear_after_confirmation_on_a_terminal(store: Store, namespace: str) -> None:
    async with store.cache(namespace) as cache:
        await cache.aset_many({"a": 1, "b": 2})
        term = Terminal("--url", store.url, "--namespace", namespace, "clear")
        term.read_until(b"[y/N]")
        term.type("y\n")
        code, stdout, seen = term.finish()
        assert code == 0
        assert f"removed 2 entries from namespace '{namespace}'" in stdout
        assert PASSWORD not in stdout + seen
        assert await cache.aget("a") is None


@pytest.mark.anyio
async def test_declined_clear_removes_nothing(store: Store, namespace: str) -> None:
    async with store.cache(namespace) as cache:
        await cache.aset("a", 1)
        term = Terminal("--url", store.url, "--namespace", namespace, "clear")
        term.read_until(b"[y/N]")
        term.type("n\n")
        code, _, seen = term.finish()
        assert code == 1
        assert "nothing was removed" in seen
        assert await cache.aget("a") == 1


# -- stats and bench ---------------------------------------------------------------------
def test_stats_shows_what_the_backend_can_tell(store: Store, namespace: str) -> None:
    code, doc = cli_json("--url", store.url, "--namespace", namespace, "stats")
    assert code == 0
    assert doc["backend"] == store.name
    assert doc["distribution"] == f"cachekit-{store.name}"
    assert doc["reachable"] is True
    assert doc["probe_s"] > 0
    assert (doc["entries"], doc["bytes"]) == (0, 0)  # counted, not "?"
    assert doc["counters"]["shared"] is True
    assert doc["counters"]["writers"] == 0  # the CLI's own probe is not traffic
    assert "no shared counters yet" in doc["counters"]["note"]
    assert PASSWORD not in json.dumps(doc)
    if store.name == "redis":
        assert doc["url"].startswith("redis://:***@127.0.0.1:")


@pytest.mark.anyio
async def test_stats_adds_up_every_writer_and_counts_what_is_stored(
    store: Store, namespace: str
) -> None:
    plan = [(3, 1), (2, 4)]  # (hits, misses) of two caches, one after the other
    for n, (hits, misses) in enumerate(plan):
        async with store.cache(namespace, shared_stats=True) as cache:
            await cache.aset(f"k{n}", "v" * (10 * (n + 1)))
            for _ in range(hits):
                assert await cache.aget(f"k{n}") is not None
            for i in range(misses):
                assert await cache.aget(f"absent-{n}-{i}") is None
    async with store.cache(namespace) as cache:
        raws = await cache.backend.get_many([f"cachekit:v2:{namespace}:k{n}" for n in (0, 1)])
    assert all(raw is not None for raw in raws)
    for _ in range(2):  # running the CLI twice changes nothing it reports
        code, doc = cli_json("--url", store.url, "--namespace", namespace, "stats")
        assert code == 0
        counters = doc["counters"]
        assert (counters["writers"], counters["processes"]) == (2, 1)  # 2 caches, 1 process
        assert (counters["hits"], counters["misses"], counters["stores"]) == (5, 5, 2)
        assert counters["hit_ratio"] == 0.5
        assert counters["by_call_type"]["kv"]["hits"] == 5
        row = doc["namespaces"][namespace]
        assert (row["hits"], row["misses"], row["entries"]) == (5, 5, 2)
        assert row["bytes"] == sum(len(raw) for raw in raws if raw is not None)
        assert doc["scope"] == f"namespace {namespace!r}"
    human = cli("--url", store.url, "--namespace", namespace, "stats").stdout
    assert "shared counters from 1 process (2 caches), since " in human
    assert f"{namespace}  2 " in human


@pytest.mark.anyio
async def test_bench_measures_and_removes_its_entries(store: Store, namespace: str) -> None:
    code, doc = cli_json(
        "--url", store.url, "--namespace", namespace, "bench", "--ops", "200", "-c", "8"
    )
    assert code == 0
    set_phase, get_phase = doc["phases"]
    assert set_phase["ok"] == get_phase["ok"] == 200
    assert get_phase["hits"] == 200  # every get read back what another task wrote
    assert set_phase["errors"] == get_phase["errors"] == {}
    async with store.cache(namespace) as cache:
        assert await cache.aget_many([f"bench-{i}" for i in range(200)]) == [None] * 200


@pytest.mark.anyio
async def test_interrupted_bench_exits_130_and_cleans_up(store: Store, namespace: str) -> None:
    term = Terminal("--url", store.url, "--namespace", namespace, "bench", "--ops", "10000000")
    term.read_until(b"bench set: ")
    term.proc.send_signal(signal.SIGINT)
    code, stdout, seen = term.finish()
    assert code == 130
    assert "interrupted" in seen
    assert "Traceback" not in seen
    assert stdout == ""
    async with store.cache(namespace) as cache:
        assert await cache.aget_many([f"bench-{i}" for i in range(50)]) == [None] * 50


# -- an unreachable server -------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [["get", "k"], ["delete", "k"], ["stats"], ["clear", "--yes"], ["bench", "--ops", "10"]],
)
def test_unreachable_redis_is_one_line_and_exit_1(args: list[str]) -> None:
    testing = pytest.importorskip(
        "cachekit_redis.testing", reason="cachekit-redis (plugins/redis) is not installed"
    )
    url = f"redis://:{PASSWORD}@127.0.0.1:{testing.free_port()}/0"  # nobody listens there
    done = cli("--url", url, *args)
    assert_one_line_error(done, 1, "backend unavailable")
    assert PASSWORD not in done.stderr


def test_clear_waits_on_a_hung_server_and_ctrl_c_stops_it() -> None:
    """``clear`` has no per-operation timeout by default (a large namespace takes a
    while), so a hung server keeps it waiting, with progress shown, until Ctrl-C."""
    testing = pytest.importorskip(
        "cachekit_redis.testing", reason="cachekit-redis (plugins/redis) is not installed"
    )
    with testing.RedisServer() as server:
        server.pause()  # SIGSTOP: connections are accepted, nothing is answered
        try:
            term = Terminal("--url", server.url, "clear", "--yes")
            term.read_until(b"clearing namespace 'default'")
            term.proc.send_signal(signal.SIGINT)
            code, stdout, seen = term.finish()
        finally:
            server.resume()
    assert code == 130
    assert "interrupted; entries removed before the interrupt stay removed" in seen
    assert "Traceback" not in seen
    assert stdout == ""


# -- issue 15: cleanup that finishes, secrets never printed -------------------------------------


@pytest.mark.anyio
async def test_bench_cleanup_is_not_cut_short_by_the_operation_timeout(namespace: str) -> None:
    """A bench whose cleanup takes far longer than one operation may (a short --timeout,
    a namespace holding 100,000 entries) still removes everything and says so."""
    testing = pytest.importorskip("cachekit_redis.testing")
    with testing.RedisServer() as server:
        client = server.client()
        pipe = client.pipeline(transaction=False)
        for i in range(100_000):
            pipe.set(f"cachekit:v2:{namespace}:left-{i}", b"x")
        pipe.execute()
        client.close()
        code, doc = cli_json(
            "--url", server.url, "--namespace", namespace, "--timeout", "0.05",
            "bench", "--ops", "20", "-c", "2",
        )  # fmt: skip
        assert code == 0
        assert doc["cleanup"]["removed"] >= 100_000
        assert server.command("DBSIZE") == 0


def test_a_timeout_of_zero_means_what_the_api_says(redis_url: str) -> None:
    done = cli("--url", redis_url, "stats", "--timeout", "0")
    assert done.returncode == 2
    assert "> 0" in done.stderr
    assert cli("--url", redis_url, "stats", "--timeout", "none").returncode == 0


@pytest.mark.parametrize("command", [["stats"], ["clear", "--yes"], ["bench", "--ops", "5"]])
def test_credentials_in_url_query_options_are_never_printed(
    redis_url: str, namespace: str, command: list[str]
) -> None:
    host = redis_url.split("@", 1)[1]
    url = f"redis://{host}?password={PASSWORD}"  # the password as a query option
    for args in ([*command], [*command, "--json"]):
        done = cli("--url", url, "--namespace", namespace, *args)
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        env_done = cli("--namespace", namespace, *args, env={"CACHEKIT_URL": url})
        assert env_done.returncode == 0, env_done.stderr
        assert PASSWORD not in env_done.stdout + env_done.stderr
