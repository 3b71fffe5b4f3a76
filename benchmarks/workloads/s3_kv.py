"""S3 reads against moto's S3 server started for the run (127.0.0.1, free port).

Two workloads, each with raw aioboto3 as the floor:

* **get hit, sequential**: one awaited read at a time; floor ``get_object`` + body
  read + ``json.loads`` on one long-lived aioboto3 client. Target: cachekit ≤ 1.1x the
  floor's latency.
* **get hit, 32 concurrent tasks**: one op is 32 reads gathered at once (time per op
  ∝ 1 / throughput). Target: cachekit ≥ 0.9x the floor's throughput, i.e. ≤ 1.11x its
  time per op.

moto is a Python server, so absolute times (milliseconds) are moto's, not S3's; the
ratios say what the clients add. The floor and cachekit use 32 pooled connections
(cachekit's default; aiobotocore's is 10). LiteLLM's ``S3Cache`` is sync boto3 run in
the default thread pool (6 threads on 2 CPUs), with boto3's pool of 10. moto is not a
benchmark-venv peer: the server runs under any Python that has it (``$CACHEKIT_MOTO_PYTHON``,
this one, or the workspace's ``.venv``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import peers
from benchmarks.harness import Ctx, Op, Target, Workload

ORDER = 27

CONCURRENCY = 32
POOL = 32
TTL = 3600
BUCKET = "cachekit-bench"
VALUE: dict[str, Any] = {
    "id": "chatcmpl-bench-0001",
    "model": "gpt-4o-mini",
    "content": "The cached answer to a repeated question, about one hundred characters "
    "long, give or take a few.",
    "tokens": 27,
}
_ROOT = Path(__file__).resolve().parents[2]


def _moto_python() -> str | None:
    if os.environ.get("CACHEKIT_MOTO_PYTHON") or importlib.util.find_spec("moto"):
        return None  # MotoServer's own choice
    workspace = _ROOT / ".venv" / "bin" / "python"
    if workspace.exists():
        return str(workspace)
    raise RuntimeError("moto not found: run `uv sync --all-packages` (workspace .venv)")


class _Server:
    """One moto server per workload (started on first use, stopped after timing)."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._server: Any = None

    def get(self) -> Any:
        if self._server is None:
            from cachekit_s3.testing import MotoServer

            self._server = MotoServer(_moto_python()).start()
            self._ctx.defer(self._server.stop)
            self._server.create_bucket(BUCKET)
        return self._server


def _gather(one: Callable[[], Awaitable[Any]]) -> Op:
    async def op() -> list[Any]:
        return list(await asyncio.gather(*(one() for _ in range(CONCURRENCY))))

    return op


def _reads(ctx: Ctx, concurrent: bool) -> None:
    server = _Server(ctx)
    expect: Any = [VALUE] * CONCURRENCY if concurrent else VALUE

    def shape(one: Callable[[], Awaitable[Any]]) -> Op:
        return _gather(one) if concurrent else one

    def raw() -> Op:
        srv = server.get()
        aioboto3 = peers.module("aioboto3")
        config = peers.module("botocore.config").Config(max_pool_connections=POOL)
        options = srv.options(BUCKET)
        session = aioboto3.Session(
            aws_access_key_id=options["s3_aws_access_key_id"],
            aws_secret_access_key=options["s3_aws_secret_access_key"],
            region_name=options["s3_region_name"],
        )
        context = session.client("s3", endpoint_url=srv.endpoint, config=config)
        client = ctx.run(context.__aenter__())
        ctx.defer(lambda: context.__aexit__(None, None, None))
        key = "raw/value.json"
        ctx.run(client.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(VALUE).encode()))

        async def one() -> Any:
            response = await client.get_object(Bucket=BUCKET, Key=key)
            async with response["Body"] as body:
                return json.loads(await body.read())

        return shape(one)

    ctx.add(
        "aioboto3 get_object + read + json.loads",
        raw,
        floor=True,
        expect=expect,
        note=f"one client, pool of {POOL}",
    )

    def cachekit_op() -> Op:
        from cachekit import Cache

        srv = server.get()
        cache = Cache(type="s3", **srv.options(BUCKET, s3_path="cachekit"))
        ctx.defer(cache.aclose)
        ctx.run(cache.backend.connect())  # the first client waits for aioboto3 to load
        ctx.run(cache.aset("hit", VALUE, ttl=TTL))
        return shape(lambda: cache.aget("hit"))

    ctx.add(
        "cachekit Cache(type='s3').aget",
        cachekit_op,
        targeted=True,
        expect=expect,
        note=f"default timeout (1 s); pool of {POOL} (default); envelope decode + expiry check",
    )

    if concurrent:

        def cachekit_many() -> Op:
            from cachekit import Cache

            srv = server.get()
            cache = Cache(type="s3", **srv.options(BUCKET, s3_path="many"))
            ctx.defer(cache.aclose)
            ctx.run(cache.backend.connect())
            keys = [f"hit-{i}" for i in range(CONCURRENCY)]
            ctx.run(cache.aset_many(dict.fromkeys(keys, VALUE), ttl=TTL))
            return lambda: cache.aget_many(keys)

        ctx.add(
            f"cachekit aget_many({CONCURRENCY} keys)",
            cachekit_many,
            expect=expect,
            note="one call; at most 32 requests in flight (max_concurrency)",
        )

    def litellm_op() -> Op:
        srv = server.get()
        options = srv.options(BUCKET, s3_path="litellm")
        s3 = peers.module("litellm.caching.s3_cache").S3Cache(**options)
        ctx.run(s3.async_set_cache("hit", VALUE, ttl=TTL))
        return shape(lambda: s3.async_get_cache("hit"))

    ctx.add(
        "LiteLLM S3Cache.async_get_cache",
        litellm_op,
        expect=expect,
        note="sync boto3 in run_in_executor; boto3 pool of 10; errors hidden as None",
    )


def build_sequential(ctx: Ctx) -> None:
    _reads(ctx, concurrent=False)


def build_concurrent(ctx: Ctx) -> None:
    _reads(ctx, concurrent=True)


WORKLOADS = [
    Workload(
        "s3 get hit, sequential (small JSON, moto server)",
        build=build_sequential,
        target=Target("≤ 1.1x floor", ratio_max=1.1),
    ),
    Workload(
        f"s3 get hit, {CONCURRENCY} concurrent tasks (time per {CONCURRENCY} reads, moto server)",
        build=build_concurrent,
        target=Target("≥ 0.9x floor throughput (≤ 1.11x time)", ratio_max=1 / 0.9),
    ),
]
