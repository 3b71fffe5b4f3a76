"""Encryption at rest on moto's S3 server: the core's encrypted-cache contract, then
what is S3's own: ``scan`` across listing pages and escaped keys, and the object
metadata (the deadline) that ``rekey`` keeps and that stays visible."""

from __future__ import annotations

import os
from typing import Any

import pytest
from cachekit import Cache
from cachekit.testing import EncryptedCacheContract, FakeClock
from cachekit_s3 import S3Backend
from cachekit_s3.testing import MotoServer

OLD = os.urandom(32)
NEW = os.urandom(32)
NS = "cachekit:v2:scan-tests:"


class TestS3Encrypted(EncryptedCacheContract):
    @pytest.fixture
    def cache_options(self, s3_options: dict[str, Any]) -> dict[str, Any]:
        return {"type": "s3", **s3_options}


class SmallPages(S3Backend):
    """Listing pages of 10 keys (S3 allows 1000), so a few dozen objects span several."""

    list_page_size = 10


@pytest.mark.anyio
async def test_scan_pages_through_listings_and_unescapes_keys(s3_options: dict[str, Any]) -> None:
    backend = SmallPages(**s3_options)
    try:
        keys = [f"{NS}item-{i:02d}" for i in range(25)] + [f"{NS}spa ce/ü:%"]
        await backend.set_many(dict.fromkeys(keys, b"x"), None)
        await backend.set("cachekit:v2:scan-testsx:item", b"y", None)
        assert sorted([key async for key in backend.scan(NS)]) == sorted(keys)
        assert sorted([key async for key in backend.scan(NS + "item-1")]) == keys[10:20]
    finally:
        await backend.clear("cachekit:v2:")
        await backend.aclose()


@pytest.mark.anyio
async def test_rekey_keeps_the_deadline_in_the_object_metadata(
    s3_options: dict[str, Any], moto_server: MotoServer, bucket: str
) -> None:
    clock = FakeClock()
    old = Cache(type="s3", clock=clock, namespace="meta", encryption_key=OLD, **s3_options)
    new = Cache(type="s3", clock=clock, namespace="meta", encryption_key=NEW, **s3_options)
    try:
        await old.aset("timed", {"answer": "private"}, ttl=600)
        object_key = new.backend.layout.object_key("cachekit:v2:meta:timed")  # type: ignore[attr-defined]
        s3 = moto_server.boto3()
        before = s3.head_object(Bucket=bucket, Key=object_key)["Metadata"]
        clock.advance(100)
        report = await new.arekey(old_keys=OLD)
        assert report.rekeyed == 1
        after = s3.get_object(Bucket=bucket, Key=object_key)
        # The deadline is the same instant (remaining lifetime from the envelope, 500 s
        # from the advanced clock) and, like sizes and key names, visible to the store.
        stamp = float(after["Metadata"]["cachekit-expires-at"])
        assert stamp == pytest.approx(float(before["cachekit-expires-at"]), abs=1e-3)
        body = after["Body"].read()
        assert body.startswith(b"CKE1") and b"private" not in body
        assert await new.aget("timed") == {"answer": "private"}
        clock.advance(501)
        assert await new.aget("timed") is None
    finally:
        await new.aclear()
        await old.aclose()
        await new.aclose()
