"""cachekit-s3 through ``Cache``, against moto's S3 server over HTTP."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from cachekit import (
    BackendError,
    Cache,
    ConfigurationError,
    EntryError,
    backend_registry,
    get_plugin_manager,
)
from cachekit.testing import FakeClock
from cachekit_s3 import EXPIRES_METADATA, S3Backend, S3KeyError

REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "temperature": 0,
}
ANSWER: dict[str, Any] = {"id": "chatcmpl-1", "choices": [{"message": {"content": "Paris"}}]}

pytestmark = pytest.mark.anyio


async def test_installed_package_registers_s3_through_its_entry_point(
    s3_options: dict[str, Any],
) -> None:
    info = backend_registry(get_plugin_manager())["s3"]
    assert info.distribution == "cachekit-s3"
    async with Cache(type="s3", timeout=10, **s3_options) as cache:
        assert isinstance(cache.backend, S3Backend)
        await cache.aset("k", {"v": 1})
        assert await cache.aget("k") == {"v": 1}


async def test_two_caches_share_entries(make_cache: Any) -> None:
    writer, reader = make_cache(), make_cache()
    await writer.aset("shared", {"answer": 42})
    await writer.async_add_cache(ANSWER, **REQUEST)
    assert await reader.aget("shared") == {"answer": 42}
    assert await reader.async_get_cache(**REQUEST) == ANSWER
    assert await reader.aget_many(["shared", "missing"]) == [{"answer": 42}, None]


async def test_object_keys_are_s3_path_namespace_and_escaped_key(
    make_cache: Any, moto_server: Any, bucket: str, s3_options: dict[str, Any]
) -> None:
    path = s3_options["s3_path"]
    cache = make_cache(namespace="team-a")
    await cache.aset("user:42/profile", "x")
    await cache.async_add_cache(ANSWER, **REQUEST)
    digest = cache.get_cache_key(**REQUEST).rsplit(":", 1)[1]
    assert moto_server.keys(bucket, path + "/") == sorted(
        [f"{path}/team-a/completion.{digest}", f"{path}/team-a/user.42!2Fprofile"]
    )
    layout = cache.backend.layout
    assert (
        layout.core_key(f"{path}/team-a/user.42!2Fprofile") == "cachekit:v2:team-a:user:42/profile"
    )


async def test_aclear_removes_only_its_namespace(
    make_cache: Any, moto_server: Any, bucket: str, s3_options: dict[str, Any]
) -> None:
    team_a, team_ab = make_cache(namespace="team-a"), make_cache(namespace="team-ab")
    await team_a.aset_many({f"k{i}": i for i in range(5)})
    await team_ab.aset("k0", "keep")
    assert await team_a.aclear() == 5
    assert await team_a.aget("k0") is None
    assert await team_ab.aget("k0") == "keep"
    assert moto_server.keys(bucket, s3_options["s3_path"] + "/") == [
        s3_options["s3_path"] + "/team-ab/k0"
    ]


async def test_expiry_is_written_as_metadata_and_expires_header_and_enforced_on_read(
    make_cache: Any, moto_server: Any, bucket: str
) -> None:
    clock = FakeClock(time.time())
    cache = make_cache(clock=clock)
    await cache.aset("short", "v", ttl=0.5)
    await cache.aset("forever", "v")
    object_key = cache.backend.layout.object_key("cachekit:v2:default:short")
    head = moto_server.boto3().head_object(Bucket=bucket, Key=object_key)
    deadline = float(head["Metadata"][EXPIRES_METADATA])
    assert deadline == pytest.approx(clock() + 0.5, abs=1e-6)
    assert head["Expires"] == datetime.fromtimestamp(int(deadline), UTC)
    forever = cache.backend.layout.object_key("cachekit:v2:default:forever")
    assert (
        EXPIRES_METADATA
        not in moto_server.boto3().head_object(Bucket=bucket, Key=forever)["Metadata"]
    )

    assert await cache.aget("short") == "v"
    clock.advance(0.7)
    assert await cache.aget("short") is None
    assert await cache.backend.get("cachekit:v2:default:short") is None  # the backend itself
    assert await cache.backend.delete("cachekit:v2:default:short") is False  # expired = absent
    assert await cache.aget("forever") == "v"


@pytest.mark.parametrize("garbage", [b"\x00\xffnot json", b'["cachekit/1", 1.0, nul', b"{}"])
async def test_corrupted_object_is_a_miss_and_an_error_event(
    make_cache: Any, recorder: Any, moto_server: Any, bucket: str, garbage: bytes
) -> None:
    cache = make_cache()
    await cache.aset("k", {"v": 1})
    await cache.async_add_cache(ANSWER, **REQUEST)
    layout = cache.backend.layout
    for core_key in ("cachekit:v2:default:k", cache.get_cache_key(**REQUEST)):
        moto_server.boto3().put_object(Bucket=bucket, Key=layout.object_key(core_key), Body=garbage)

    assert await cache.aget("k") is None
    assert await cache.async_get_cache(**REQUEST) is None
    assert [type(e.error) for e in recorder.errors] == [EntryError, EntryError]


async def test_missing_bucket_is_a_clear_configuration_error_and_calls_still_succeed(
    make_cache: Any, recorder: Any
) -> None:
    cache = make_cache(s3_bucket_name="no-such-bucket")
    with pytest.raises(ConfigurationError, match=r"'no-such-bucket'.*does not exist") as raised:
        await cache.aget("k")
    assert isinstance(raised.value, BackendError)  # and so absorbed by the fail-open paths

    assert await cache.async_get_cache(**REQUEST) is None
    await cache.async_add_cache(ANSWER, **REQUEST)  # fail-open: no exception
    assert "does not exist" in str(recorder.errors[0].error)

    calls = []

    @cache.cached("completion")
    async def provider(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return ANSWER

    assert await provider(**REQUEST) == ANSWER
    assert await provider(**REQUEST) == ANSWER
    assert len(calls) == 2  # uncached, but never broken


async def test_dead_endpoint_is_unavailable_and_calls_still_succeed(
    make_cache: Any, recorder: Any, unused_endpoint: str
) -> None:
    cache = make_cache(
        s3_endpoint_url=unused_endpoint, s3_config={"retries": {"total_max_attempts": 1}}
    )
    with pytest.raises(BackendError, match="cannot reach"):
        await cache.aget("k")
    assert await cache.async_get_cache(**REQUEST) is None

    @cache.cached("completion")
    async def provider(**kwargs: Any) -> dict[str, Any]:
        return ANSWER

    assert await provider(**REQUEST) == ANSWER
    assert recorder.errors


async def test_too_long_keys_are_refused_clearly(make_cache: Any) -> None:
    cache = make_cache()
    key = "☃" * 200  # 1800 bytes once escaped
    with pytest.raises(S3KeyError, match="longer than S3's 1024 bytes"):
        await cache.aset(key, 1)
    assert await cache.aget(key) is None
    assert await cache.adelete(key) is False


async def test_from_url(moto_server: Any, bucket: str) -> None:
    url = (
        f"s3://{bucket}/from-url/prefix?endpoint_url={moto_server.endpoint}"
        "&region=us-east-1&namespace=url-ns&max_concurrency=4&addressing_style=path"
    )
    cache = Cache.from_url(
        url, s3_aws_access_key_id="testing", s3_aws_secret_access_key="testing", timeout=10
    )
    async with cache:
        assert isinstance(cache.backend, S3Backend)
        await cache.aset("k", [1, 2])
        assert await cache.aget("k") == [1, 2]
        assert moto_server.keys(bucket, "from-url/") == ["from-url/prefix/url-ns/k"]
        assert await cache.aclear() == 1


async def test_credentials_never_appear_in_errors_or_events(make_cache: Any, recorder: Any) -> None:
    secret = "sEcReT-value-123"
    cache = make_cache(s3_bucket_name="no-such-bucket", s3_aws_secret_access_key=secret)
    with pytest.raises(ConfigurationError) as raised:
        await cache.aget("k")
    await cache.async_get_cache(**REQUEST)
    texts = [str(raised.value), repr(cache.backend), *(repr(e) for e in recorder.errors)]
    assert all(secret not in text for text in texts)


def test_sync_face_and_a_second_loop_each_get_a_client(s3_options: dict[str, Any]) -> None:
    cache = Cache(type="s3", timeout=10, **s3_options)
    cache.set("k", "from the sync face")  # runs on cachekit's loop thread
    assert cache.get("k") == "from the sync face"
    backend = cache.backend
    assert isinstance(backend, S3Backend)

    async def on_another_loop() -> None:
        assert await cache.aget("k") == "from the sync face"
        assert len(backend._clients) == 2  # one per loop
        await cache.aclose()  # closes this loop's client and the loop thread's
        assert len(backend._clients) == 0

    asyncio.run(on_another_loop())


def test_each_asyncio_run_closes_its_client_when_the_loop_ends(s3_options: dict[str, Any]) -> None:
    cache = Cache(type="s3", timeout=10, **s3_options)
    backend = cache.backend
    assert isinstance(backend, S3Backend)

    async def use() -> Any:
        await cache.aset("k", [1])
        assert len(backend._clients) == 1
        return await cache.aget("k")  # no aclose(): the loop's shutdown closes the client

    assert asyncio.run(use()) == [1]
    assert len(backend._clients) == 0
    assert asyncio.run(use()) == [1]  # a new loop, a new client
    assert len(backend._clients) == 0
    gc.collect()  # an unclosed aiohttp session would warn here (filterwarnings = error)
