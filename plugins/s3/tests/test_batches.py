"""Batches and clear: bounded concurrency, paging, batch deletes, foreign objects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cachekit_s3 import S3Backend

pytestmark = pytest.mark.anyio

NS = "cachekit:v2:batch:"


class CountingBackend(S3Backend):
    """The real backend, counting how many gets/sets are in flight at once."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.in_flight = 0
        self.peak = 0

    async def _counted(self, operation: Any) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await operation
        finally:
            self.in_flight -= 1

    async def get(self, key: str) -> bytes | None:
        result: bytes | None = await self._counted(super().get(key))
        return result

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._counted(super().set(key, value, ttl))


@pytest.fixture
async def backend(s3_options: dict[str, Any]) -> AsyncIterator[CountingBackend]:
    instance = CountingBackend(**s3_options, max_concurrency=4)
    try:
        yield instance
    finally:
        await instance.aclose()


async def test_set_many_and_get_many_run_at_most_max_concurrency_requests(
    backend: CountingBackend,
) -> None:
    mapping = {f"{NS}k{i}": f"v{i}".encode() for i in range(16)}
    await backend.set_many(mapping, None)
    assert 1 < backend.peak <= 4
    backend.peak = 0
    keys = [*mapping, f"{NS}missing", f"{NS}k0"]
    assert await backend.get_many(keys) == [*mapping.values(), None, b"v0"]
    assert 1 < backend.peak <= 4


class SmallPagesBackend(S3Backend):
    """S3 allows 1000 keys per listing page and per batch delete; 10 and 4 make a few
    objects span several of each."""

    list_page_size = 10
    delete_batch_size = 4

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.deletes: list[int] = []

    async def _delete_objects(self, client: Any, keys: list[str]) -> int:
        self.deletes.append(len(keys))
        return await super()._delete_objects(client, keys)


async def test_clear_pages_through_listings_and_deletes_in_batches(
    s3_options: dict[str, Any], moto_server: Any, bucket: str
) -> None:
    backend = SmallPagesBackend(**s3_options)
    try:
        await backend.set_many({f"{NS}item-{i:02d}": b"x" for i in range(25)}, None)
        await backend.set("cachekit:v2:other:item", b"y", None)
        assert await backend.clear(NS) == 25
        assert backend.deletes == [4, 4, 2, 4, 4, 2, 4, 1]  # pages of 10, 10 and 5 keys
        assert moto_server.keys(bucket, s3_options["s3_path"] + "/") == [
            s3_options["s3_path"] + "/other/item"
        ]
        assert await backend.clear(NS) == 0
    finally:
        await backend.aclose()


async def test_clear_leaves_objects_cachekit_did_not_write(
    s3_options: dict[str, Any], moto_server: Any, bucket: str
) -> None:
    path = s3_options["s3_path"]
    foreign = [f"{path}/batch/notes/readme.txt", f"{path}/batch/Has Space", f"{path}/batch/x!2f"]
    client = moto_server.boto3()
    for key in foreign:
        client.put_object(Bucket=bucket, Key=key, Body=b"not ours")
    backend = S3Backend(**s3_options)
    try:
        await backend.set(f"{NS}mine", b"ours", None)
        assert await backend.clear(NS) == 1
        assert await backend.clear("") == 0  # even the broadest clear spares them
    finally:
        await backend.aclose()
    assert moto_server.keys(bucket, path + "/") == sorted(foreign)


async def test_clear_with_a_partial_namespace_or_raw_prefix(s3_options: dict[str, Any]) -> None:
    backend = S3Backend(**s3_options)
    try:
        await backend.set_many(
            {
                "cachekit:v2:team-a:k": b"1",
                "cachekit:v2:team-b:k": b"2",
                "cachekit:v2:team": b"raw, no namespace",
                "plain/key": b"raw",
                "plain:other": b"raw",
            },
            None,
        )
        assert await backend.clear("cachekit:v2:team-") == 2
        assert await backend.clear("plain") == 2
        assert await backend.get("cachekit:v2:team") == b"raw, no namespace"
        assert await backend.clear("") == 1
    finally:
        await backend.aclose()


async def test_concurrent_reads_of_one_key_share_one_get(s3_options: dict[str, Any]) -> None:
    backend = S3Backend(**s3_options)
    sent: list[str] = []
    try:
        await backend.set(f"{NS}hot", b"answer", None)
        await backend.connect()
        # Count the requests botocore really sends (its own event hook, on the real client).
        client = await backend._clients.get()
        client.meta.events.register(
            "before-send.s3.GetObject", lambda request, **_: sent.append(request.url)
        )
        results = await asyncio.gather(*(backend.get(f"{NS}hot") for _ in range(200)))
        assert results == [b"answer"] * 200
        assert len(sent) == 1
        # Another key, and a later read of the same key, are separate GETs.
        assert await asyncio.gather(backend.get(f"{NS}hot"), backend.get(f"{NS}cold")) == [
            b"answer",
            None,
        ]
        assert len(sent) == 3
    finally:
        await backend.aclose()
