"""Disk cache get hit, overwrite and insert, ~1 KB values, against diskcache and
cashews ``disk://``.

The floor is diskcache's ``Cache`` called through ``asyncio.to_thread``: the least a
non-blocking disk cache can cost on asyncio (LiteLLM 1.110 no longer has
``Cache(type="disk")``). Targets: cachekit's ``DiskBackend.get`` ≤ 1.0x the floor's
median, ``DiskBackend.set`` ≤ 1.2x.

Extra rows justify the design (issue 6: "measure both and keep the faster"):

* **aiofiles** on the same file format and layout: ``aiofiles.open`` + ``read`` +
  ``close`` (and ``aiofiles.os.replace`` for a set) each hop to a thread, so a get
  pays three hops where cachekit pays one;
* **anyio hop**: cachekit's backend with every operation sent through
  ``anyio.to_thread.run_sync`` instead of its own hop (``_hop.ThreadHop``, a queue
  and one ``call_soon_threadsafe``) that it uses on asyncio; anyio serves trio;
* **100k entries**: the same hit in a directory holding 100k entries (one open per
  hit whatever the count; see plugins/disk/README.md).

All stores sit in fresh temporary directories on one filesystem (``/tmp`` is ext4
on the benchmark machine; on a tmpfs every row gets faster); nobody fsyncs per write (diskcache: SQLite WAL with
``synchronous=NORMAL``; cachekit: ``fsync="none"``, its default). cashews pickles
values and its ``set`` without ``expire`` first reads the key's TTL.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from typing import Any

from benchmarks import peers
from benchmarks.harness import Ctx, Op, Target, Workload

ORDER = 27

VALUE_OBJ: dict[str, Any] = {
    "id": "chatcmpl-bench-0001",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "A cached answer. " * 50},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 31, "completion_tokens": 212, "total_tokens": 243},
}
VALUE = json.dumps(VALUE_OBJ).encode()  # ~1 KB
KEY = "cachekit:v2:bench:completion:0123456789abcdef"
SET_KEYS = [f"cachekit:v2:bench:completion:set-{i:03}" for i in range(100)]
BIG_DIR_ENTRIES = 100_000


def _fresh_dir(ctx: Ctx, tag: str) -> str:
    directory = tempfile.mkdtemp(prefix=f"cachekit-disk-bench-{tag}-")
    ctx.defer(lambda: shutil.rmtree(directory, ignore_errors=True))
    return directory


def _fresh_keys(tag: str) -> Any:
    counter = iter(range(1 << 40))
    return lambda: f"cachekit:v2:bench:completion:new-{tag}-{next(counter)}"


def _rotating(keys: list[str]) -> Any:
    state = {"i": 0}

    def next_key() -> str:
        state["i"] = (state["i"] + 1) % len(keys)
        return keys[state["i"]]

    return next_key


# -- implementations ----------------------------------------------------------------
def _diskcache(ctx: Ctx) -> Any:
    cache = peers.module("diskcache").Cache(_fresh_dir(ctx, "diskcache"))
    ctx.defer(cache.close)
    return cache


def _cashews(ctx: Ctx) -> Any:
    cache = peers.cashews_cache(f"disk://?directory={_fresh_dir(ctx, 'cashews')}&shards=0")
    ctx.defer(cache.close)
    return cache


def _cachekit(ctx: Ctx, **options: Any) -> Any:
    from cachekit_disk import DiskBackend

    backend = DiskBackend(disk_cache_dir=_fresh_dir(ctx, "cachekit"), **options)
    ctx.defer(backend.aclose)
    return backend


def _cachekit_anyio(ctx: Ctx) -> Any:
    """cachekit's backend, but every hop through anyio.to_thread.run_sync."""
    import anyio.to_thread
    from cachekit_disk import DiskBackend

    class AnyioHopBackend(DiskBackend):
        async def _run(self, func: Any, *args: Any) -> Any:
            return await anyio.to_thread.run_sync(func, *args)

    backend = AnyioHopBackend(disk_cache_dir=_fresh_dir(ctx, "anyio"))
    ctx.defer(backend.aclose)
    return backend


class _AiofilesDisk:
    """cachekit's file format and layout, with aiofiles doing the file calls."""

    def __init__(self, directory: str) -> None:
        from cachekit_disk._layout import Layout

        self.aiofiles = peers.module("aiofiles")
        self.aiofiles_os = peers.module("aiofiles.os")
        self.layout = Layout(directory)
        self.n = 0

    async def get(self, key: str) -> bytes | None:
        from cachekit_disk._format import read_entry

        raw, _, path = self.layout.locate(key)
        try:
            async with self.aiofiles.open(path, "rb") as f:
                data = await f.read()
        except FileNotFoundError:
            return None
        entry = read_entry(data, raw)
        return None if isinstance(entry, str) else entry[0]

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        from cachekit_disk._format import encode_entry_file

        raw, shard, path = self.layout.locate(key)
        self.n += 1
        tmp = f"{shard}/.tmp.{os.getpid()}.a{self.n}"
        await self.aiofiles_os.makedirs(shard, exist_ok=True)
        async with self.aiofiles.open(tmp, "wb") as f:
            await f.write(encode_entry_file(raw, value, None))
        await self.aiofiles_os.replace(tmp, path)


def _aiofiles(ctx: Ctx) -> Any:
    return _AiofilesDisk(_fresh_dir(ctx, "aiofiles"))


# -- workloads ------------------------------------------------------------------
def build_get(ctx: Ctx) -> None:
    def diskcache_op() -> Op:
        cache = _diskcache(ctx)
        cache.set(KEY, VALUE)
        return lambda: asyncio.to_thread(cache.get, KEY)

    ctx.add("diskcache Cache.get via asyncio.to_thread", diskcache_op, floor=True, expect=VALUE)

    def cachekit_op() -> Op:
        backend = _cachekit(ctx)
        ctx.run(backend.set(KEY, VALUE, None))
        return lambda: backend.get(KEY)

    ctx.add("cachekit DiskBackend.get", cachekit_op, targeted=True, expect=VALUE)

    def cachekit_big() -> Op:
        backend = _cachekit(ctx)
        store = backend._store  # filled through the blocking store: setup only
        filler = b"x" * 64
        for i in range(BIG_DIR_ENTRIES):
            store.set(f"cachekit:v2:bench:completion:fill-{i}", filler, None)
        ctx.run(backend.set(KEY, VALUE, None))
        return lambda: backend.get(KEY)

    ctx.add(
        f"cachekit DiskBackend.get, {BIG_DIR_ENTRIES // 1000}k entries in the directory",
        cachekit_big,
        targeted=True,
        expect=VALUE,
        note="one open() per hit whatever the entry count (256 shards per namespace)",
    )

    def cachekit_cache() -> Op:
        from cachekit import Cache

        cache = Cache(type="disk", disk_cache_dir=_fresh_dir(ctx, "facade"))
        ctx.defer(cache.aclose)
        ctx.run(cache.aset("hit", VALUE_OBJ))
        return lambda: cache.aget("hit")

    ctx.add(
        "cachekit Cache(type='disk').aget",
        cachekit_cache,
        expect=VALUE_OBJ,
        note="the facade: + envelope JSON decode, expiry check, stats, timeout scope",
    )

    def anyio_op() -> Op:
        backend = _cachekit_anyio(ctx)
        ctx.run(backend.set(KEY, VALUE, None))
        return lambda: backend.get(KEY)

    ctx.add(
        "cachekit's files, anyio.to_thread hop",
        anyio_op,
        expect=VALUE,
        note="alternative not kept on asyncio (used on trio)",
    )

    def aiofiles_op() -> Op:
        store = _aiofiles(ctx)
        ctx.run(store.set(KEY, VALUE, None))
        return lambda: store.get(KEY)

    ctx.add(
        "cachekit's files via aiofiles",
        aiofiles_op,
        expect=VALUE,
        note="alternative not kept: open/read/close = 3 thread hops",
    )

    def cashews_op() -> Op:
        cache = _cashews(ctx)
        ctx.run(cache.set(KEY, VALUE))
        return lambda: cache.get(KEY)

    ctx.add(
        "cashews disk:// get",
        cashews_op,
        expect=VALUE,
        note="diskcache underneath, via run_in_executor; pickled values",
    )


def _build_set(ctx: Ctx, fresh: bool) -> None:
    """Overwrites of 100 keys written once during setup, or (``fresh``) a new key
    per write."""

    def keys(tag: str) -> Any:
        return _fresh_keys(tag) if fresh else _rotating(SET_KEYS)

    def prefill(write: Any) -> None:
        if not fresh:
            for key in SET_KEYS:
                write(key)

    def diskcache_op() -> Op:
        cache = _diskcache(ctx)
        prefill(lambda k: cache.set(k, VALUE))
        next_key = keys("dc")
        return lambda: asyncio.to_thread(cache.set, next_key(), VALUE)

    ctx.add("diskcache Cache.set via asyncio.to_thread", diskcache_op, floor=True)

    def cachekit_op(**options: Any) -> Op:
        backend = _cachekit(ctx, **options)
        prefill(lambda k: ctx.run(backend.set(k, VALUE, None)))
        next_key = keys("ck")
        return lambda: backend.set(next_key(), VALUE, None)

    ctx.add(
        "cachekit DiskBackend.set",
        cachekit_op,
        targeted=True,
        note="temp file + atomic rename/exchange per write; fsync='none'",
    )
    ctx.add(
        "cachekit DiskBackend.set, max_size_bytes=1 GiB",
        lambda: cachekit_op(max_size_bytes=1 << 30),
        targeted=True,
        note="+ the shared size counter under flock",
    )

    def anyio_op() -> Op:
        backend = _cachekit_anyio(ctx)
        prefill(lambda k: ctx.run(backend.set(k, VALUE, None)))
        next_key = keys("an")
        return lambda: backend.set(next_key(), VALUE, None)

    ctx.add(
        "cachekit's files, anyio.to_thread hop",
        anyio_op,
        note="alternative not kept on asyncio (used on trio)",
    )

    def aiofiles_op() -> Op:
        store = _aiofiles(ctx)
        prefill(lambda k: ctx.run(store.set(k, VALUE, None)))
        next_key = keys("af")
        return lambda: store.set(next_key(), VALUE, None)

    ctx.add(
        "cachekit's files via aiofiles",
        aiofiles_op,
        note="makedirs + open + write + close + replace = 5 thread hops; a new inode "
        "per write (no recycling)",
    )

    def cashews_op() -> Op:
        cache = _cashews(ctx)
        prefill(lambda k: ctx.run(cache.set(k, VALUE)))
        next_key = keys("cw")
        return lambda: cache.set(next_key(), VALUE)

    ctx.add(
        "cashews disk:// set",
        cashews_op,
        note="without expire= it first reads the key's TTL; pickled values",
    )


def build_set(ctx: Ctx) -> None:
    _build_set(ctx, fresh=False)


def build_insert(ctx: Ctx) -> None:
    _build_set(ctx, fresh=True)


WORKLOADS = [
    Workload(
        "disk get hit (~1 KB)",
        build=build_get,
        target=Target("≤ 1.0x floor", ratio_max=1.0),
    ),
    Workload(
        "disk set (~1 KB, 100 keys overwritten in turn)",
        build=build_set,
        target=Target("≤ 1.2x floor", ratio_max=1.2),
    ),
    Workload(
        "disk set (~1 KB, a new key per write)",
        build=build_insert,
        target=Target("≤ 1.2x floor", ratio_max=1.2),
        note="every new entry needs a new inode (one file per entry); diskcache keeps "
        "values < 32 KB inside SQLite",
    ),
]
