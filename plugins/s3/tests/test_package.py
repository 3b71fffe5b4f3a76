"""The package surface: exports, a light import, options checked before any I/O."""

from __future__ import annotations

from typing import Any

import cachekit_s3
import pytest
from cachekit import Cache, ConfigurationError
from cachekit.testing import modules_imported_by
from cachekit_s3 import S3Backend


def test_all_names_are_importable() -> None:
    for name in cachekit_s3.__all__:
        assert getattr(cachekit_s3, name) is not None


def test_registering_the_plugin_imports_no_client_library() -> None:
    """With every plugin installed, a process that never builds an s3 cache pays
    nothing for this one: neither aiobotocore nor the backend module is imported."""
    loaded = modules_imported_by('import cachekit; cachekit.Cache(type="local")')
    assert "cachekit_s3._plugin" in loaded  # the plugin was registered
    heavy = {"aioboto3", "aiobotocore", "botocore", "aiohttp", "cachekit_s3._backend"}
    assert not heavy & loaded


BASE: dict[str, Any] = {"s3_bucket_name": "bucket"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "s3_bucket_name is required"),
        ({"s3_bucket_name": "bucket/prefix"}, "put a key prefix in s3_path"),
        ({"s3_bucket_name": "KEY:sEcReT@bucket"}, r"^(?!.*sEcReT).*not a bucket name"),
        ({**BASE, "nonsense": 1}, "does not take option.*nonsense.*accepts: .*s3_path"),
        ({**BASE, "s3_endpoint_url": "ftp://host"}, "http:// or https://"),
        ({**BASE, "s3_aws_access_key_id": "id"}, "give both"),
        ({**BASE, "s3_aws_session_token": "t"}, "needs s3_aws_access_key_id"),
        ({**BASE, "s3_use_ssl": "yes"}, "s3_use_ssl must be True or False"),
        ({**BASE, "s3_verify": 3.5}, "s3_verify must be"),
        ({**BASE, "s3_config": 42}, "s3_config must be a botocore.config.Config or a dict"),
        ({**BASE, "max_concurrency": 0}, "max_concurrency must be a positive integer"),
        ({**BASE, "addressing_style": "sideways"}, "addressing_style must be one of"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Cache(type="s3", **options)


def test_secrets_are_not_echoed_in_option_errors() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Cache(type="s3", **BASE, s3_aws_secret_access_key="sEcReT-value-123")
    assert "sEcReT" not in str(raised.value)
    with pytest.raises(ConfigurationError) as raised:
        Cache(type="s3", **BASE, s3_aws_access_key_id="id", s3_aws_secret_access_key=12345678)
    assert "12345678" not in str(raised.value)


def test_litellm_keywords_reach_the_backend() -> None:
    cache = Cache(
        type="s3",
        s3_bucket_name="bucket",
        s3_region_name="eu-west-1",
        s3_api_version="2006-03-01",
        s3_path="/llm/cache/",
        s3_use_ssl=False,
        s3_verify=False,
        s3_endpoint_url="http://127.0.0.1:9",
        s3_aws_access_key_id="id",
        s3_aws_secret_access_key="secret",
        s3_aws_session_token="token",
        s3_config={"connect_timeout": 1},
    )
    backend = cache.backend
    assert isinstance(backend, S3Backend)
    assert backend.bucket == "bucket"
    assert backend.layout.base == "llm/cache/"
    session, client = backend._prepare()
    assert session == {
        "aws_access_key_id": "id",
        "aws_secret_access_key": "secret",
        "aws_session_token": "token",
        "region_name": "eu-west-1",
    }
    assert client["api_version"] == "2006-03-01"
    assert client["use_ssl"] is False
    assert client["verify"] is False
    assert client["endpoint_url"] == "http://127.0.0.1:9"
    assert client["config"].connect_timeout == 1
    assert "secret" not in repr(backend)
