"""Helper processes for the multi-process tests (run as a script, never collected).

``python _procs.py MODE DIR ...`` where MODE is:

* ``write DIR WRITER KEYS ROUNDS SIZE [CAP]``: write ``KEYS`` keys ``ROUNDS`` times;
* ``read DIR KEYS ROUNDS``: read them ``ROUNDS`` times, checking every hit;
* ``storm DIR SIZE TEMP_MODE [CAP]``: write forever, printing a line before each write
  (to be killed); TEMP_MODE ``unnamed`` (O_TMPFILE, the default on Linux) or ``named``;
* ``dump DIR KEY...``: print a JSON list: for each key ``null``, ``"ok"`` or ``"bad"``;
* ``get DIR KEY``: print ``miss`` or ``hit``, with the address space limited to
  1 GiB, so that an unbounded read fails fast (MemoryError) instead of taking the
  machine's memory.

Values are self-checking: ``key|writer|round|`` then filler derived from that
prefix, so any reader can tell a whole value from a torn or mixed one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

from cachekit_disk import DiskBackend


def key_name(i: int) -> str:
    return f"cachekit:v2:procs:key-{i}"


def make_value(key: str, writer: int, round_: int, size: int) -> bytes:
    prefix = f"{key}|{writer}|{round_}|".encode()
    block = hashlib.sha256(prefix).digest()
    filler = (block * (size // len(block) + 1))[: max(0, size - len(prefix) - 32)]
    return prefix + filler + hashlib.sha256(prefix + filler).digest()


def check_value(key: str, value: bytes) -> bool:
    parts = value.split(b"|", 3)
    if len(parts) != 4 or parts[0] != key.encode():
        return False
    body, digest = value[:-32], value[-32:]
    if hashlib.sha256(body).digest() != digest:
        return False
    prefix = b"|".join(parts[:3]) + b"|"
    block = hashlib.sha256(prefix).digest()
    filler = body[len(prefix) :]
    return filler == (block * (len(filler) // len(block) + 1))[: len(filler)]


async def _write(
    directory: str, writer: int, keys: int, rounds: int, size: int, cap: int | None
) -> None:
    backend = DiskBackend(disk_cache_dir=directory, max_size_bytes=cap, lru_resolution=0)
    try:
        for r in range(rounds):
            for i in range(keys):
                key = key_name(i)
                await backend.set(key, make_value(key, writer, r, size), None)
            if r == 0:
                print("ready", flush=True)
    finally:
        await backend.aclose()


async def _read(directory: str, keys: int, rounds: int) -> int:
    backend = DiskBackend(disk_cache_dir=directory)
    hits = 0
    try:
        for _ in range(rounds):
            for i in range(keys):
                key = key_name(i)
                value = await backend.get(key)
                if value is None:
                    continue
                if not check_value(key, value):
                    print(f"BAD VALUE for {key}: {value[:60]!r}", flush=True)
                    return -1
                hits += 1
    finally:
        await backend.aclose()
    return hits


async def _storm(directory: str, size: int, temp_mode: str, cap: int | None) -> None:
    backend = DiskBackend(disk_cache_dir=directory, max_size_bytes=cap)
    if temp_mode == "named":  # the portable path (no O_TMPFILE): named temp files
        backend._store.temps.use_tmpfile = False
    n = 0
    while True:
        key = key_name(n % 20)  # overwrites: replaced inodes are recycled too
        # Sizes vary so that the kill lands in writes of every length.
        value = make_value(key, 0, n, size * (1 + n % 4))
        print(n, flush=True)  # "about to write": the parent kills after some of these
        await backend.set(key, value, None)
        n += 1


async def _dump(directory: str, keys: list[str]) -> list[str | None]:
    backend = DiskBackend(disk_cache_dir=directory)
    try:
        values = await backend.get_many(keys)
    finally:
        await backend.aclose()
    return [
        None if v is None else ("ok" if check_value(k, v) else "bad")
        for k, v in zip(keys, values, strict=True)
    ]


async def _get(directory: str, key: str) -> str:
    backend = DiskBackend(disk_cache_dir=directory)
    try:
        return "miss" if await backend.get(key) is None else "hit"
    finally:
        await backend.aclose()


def main(argv: list[str]) -> int:
    mode, directory, *rest = argv
    if mode == "write":
        cap = int(rest[4]) if len(rest) > 4 else None
        asyncio.run(_write(directory, int(rest[0]), int(rest[1]), int(rest[2]), int(rest[3]), cap))
    elif mode == "read":
        hits = asyncio.run(_read(directory, int(rest[0]), int(rest[1])))
        print(f"hits {hits}", flush=True)
        return 1 if hits < 0 else 0
    elif mode == "storm":
        cap = int(rest[2]) if len(rest) > 2 else None
        asyncio.run(_storm(directory, int(rest[0]), rest[1], cap))
    elif mode == "get":
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        print(asyncio.run(_get(directory, rest[0])), flush=True)
    elif mode == "dump":
        print(json.dumps(asyncio.run(_dump(directory, rest))), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
