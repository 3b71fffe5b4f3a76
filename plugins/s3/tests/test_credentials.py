"""Credentials, against a second moto server that checks signatures (IAM auth on).

Setup runs while the server still accepts anything (an IAM user with an access key
and an ``s3:*`` policy, a bucket); then ``/moto-api/reset-auth`` switches checking
on, and every request must be signed with that key, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cachekit import BackendError, Cache, ConfigurationError
from cachekit_s3 import S3ConfigurationError
from cachekit_s3.testing import MotoServer

REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Name a prime number."},
    ],
}
ANSWER: dict[str, Any] = {"choices": [{"message": {"content": "7"}}]}
BUCKET = "cachekit-auth"

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def auth_server() -> Iterator[tuple[MotoServer, dict[str, str]]]:
    with MotoServer() as server:
        iam = server.boto3(service="iam")
        iam.create_user(UserName="cache")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="cache", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="cache")["AccessKey"]
        server.create_bucket(BUCKET)
        server.require_auth()  # from now on, requests must be signed
        yield server, {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


@pytest.fixture
def auth_options(auth_server: tuple[Any, dict[str, str]]) -> dict[str, Any]:
    server, _ = auth_server
    return {
        "s3_bucket_name": BUCKET,
        "s3_endpoint_url": server.endpoint,
        "s3_region_name": "us-east-1",
        "s3_path": "auth",
        "s3_aws_access_key_id": None,  # None: not given (each test says what it uses)
        "s3_aws_secret_access_key": None,
    }


async def test_valid_credentials_work(
    make_cache: Any, auth_options: dict[str, Any], auth_server: tuple[Any, dict[str, str]]
) -> None:
    _, key = auth_server
    cache = make_cache(
        **{
            **auth_options,
            "s3_aws_access_key_id": key["id"],
            "s3_aws_secret_access_key": key["secret"],
        }
    )
    await cache.aset("k", "signed")
    assert await cache.aget("k") == "signed"
    assert await cache.adelete("k") is True


@pytest.mark.parametrize(
    ("which", "code"),
    [("wrong-secret", "SignatureDoesNotMatch"), ("unknown-key", "InvalidAccessKeyId")],
)
async def test_rejected_credentials_are_a_clear_error_and_calls_still_succeed(
    make_cache: Any,
    recorder: Any,
    auth_options: dict[str, Any],
    auth_server: tuple[Any, dict[str, str]],
    which: str,
    code: str,
) -> None:
    _, key = auth_server
    key_id = key["id"] if which == "wrong-secret" else "AKIAUNKNOWN000000000"
    secret = "not-the-secret-0123456789"
    cache = make_cache(
        **{**auth_options, "s3_aws_access_key_id": key_id, "s3_aws_secret_access_key": secret}
    )
    with pytest.raises(S3ConfigurationError, match=code) as raised:
        await cache.aget("k")
    assert isinstance(raised.value, ConfigurationError)
    assert isinstance(raised.value, BackendError)
    assert secret not in str(raised.value)

    calls = 0

    @cache.cached("completion")
    async def provider(**kwargs: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return ANSWER

    assert await provider(**REQUEST) == ANSWER
    assert calls == 1
    assert recorder.errors
    assert all(secret not in repr(event) for event in recorder.errors)


async def test_credentials_fall_back_to_the_aws_chain(
    make_cache: Any,
    auth_options: dict[str, Any],
    auth_server: tuple[Any, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    _, key = auth_server
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["secret"])
    good = make_cache(**auth_options)  # no keys given: the environment provides them
    await good.aset("chain", 1)
    assert await good.aget("chain") == 1

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    bad = make_cache(**auth_options)
    with pytest.raises(S3ConfigurationError, match="SignatureDoesNotMatch"):
        await bad.aget("chain")


def test_cache_type_s3_without_a_bucket_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="s3_bucket_name is required"):
        Cache(type="s3")
