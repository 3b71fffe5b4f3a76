"""Encryption at rest on a real directory: the core's encrypted-cache contract (on
asyncio and trio), then what is the disk backend's own: ``scan`` reading keys from
entry headers (temporary, damaged and foreign files skipped, every group walked for a
prefix that names no namespace) and files rewritten by ``rekey`` staying owner-only."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cachekit import Cache
from cachekit.testing import EncryptedCacheContract
from cachekit_disk import DiskBackend

OLD = os.urandom(32)
NEW = os.urandom(32)


class TestDiskEncrypted(EncryptedCacheContract):
    # A read holding a file that a rewrite just recycled sees it damaged: a miss.
    overwrites_may_miss = True

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def cache_options(self, tmp_path: Path) -> dict[str, Any]:
        return {"type": "disk", "disk_cache_dir": str(tmp_path)}


def _entry_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and len(p.name) == 64]


@pytest.mark.anyio
async def test_scan_reads_keys_from_headers_and_skips_what_is_not_an_entry(
    tmp_path: Path,
) -> None:
    backend = DiskBackend(disk_cache_dir=tmp_path)
    try:
        ns = "cachekit:v2:team:"
        keys = [f"{ns}k{i}" for i in range(40)] + [f"{ns}ünï ☃:x"]
        await backend.set_many(dict.fromkeys(keys, b"v"), None)
        await backend.set("cachekit:v2:teamx:k0", b"neighbour", None)
        await backend.set("cachekit:v2:Upper:k0", b"another namespace directory", None)
        await backend.set("plain-key", b"not namespaced", None)
        shard = _entry_files(tmp_path / "disk-v1" / "team")[0].parent
        (shard / ".tmp.abc.1").write_bytes(b"a temporary file")
        (shard / ("0" * 64)).write_bytes(b"damaged: no header")
        assert sorted([k async for k in backend.scan(ns)]) == sorted(keys)
        assert sorted([k async for k in backend.scan(f"{ns}k1")]) == sorted(
            k for k in keys if k.startswith(f"{ns}k1")
        )
        everything = {k async for k in backend.scan("")}
        assert everything == {
            *keys,
            "cachekit:v2:teamx:k0",
            "cachekit:v2:Upper:k0",
            "plain-key",
        }
        assert {k async for k in backend.scan("cachekit:v2:team")} == {
            *keys,
            "cachekit:v2:teamx:k0",
        }
        assert [k async for k in backend.scan("cachekit:v2:nobody:")] == []
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_rekey_rewrites_entries_owner_only_and_encrypted(tmp_path: Path) -> None:
    old = Cache(type="disk", disk_cache_dir=str(tmp_path), namespace="t", encryption_key=OLD)
    new = Cache(type="disk", disk_cache_dir=str(tmp_path), namespace="t", encryption_key=NEW)
    try:
        await old.aset_many({f"k{i}": f"private {i}" for i in range(20)}, ttl=600)
        before = {p: p.read_bytes() for p in _entry_files(tmp_path)}
        report = await new.arekey(old_keys=OLD)
        assert report.rekeyed == 20
        for path, data in before.items():
            now = path.read_bytes()
            assert now != data and b"CKE1" in now and b"private" not in now
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert await new.aget("k7") == "private 7"
    finally:
        await old.aclose()
        await new.aclose()
