"""The ``s3`` backend's options: checked up front, turned into aiobotocore arguments.

Every check runs when the backend is built, before any I/O, and raises
:class:`cachekit.ConfigurationError` naming the option (never echoing a secret).
The botocore ``Config`` is built later, in a worker thread when a client is opened,
because importing ``botocore.config`` takes ~0.5 s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cachekit import ConfigurationError

from cachekit_s3._errors import S3ConfigurationError

__all__ = ["DEFAULT_MAX_CONCURRENCY", "S3Settings"]

#: Requests in flight at once for ``get_many``/``set_many``; also the minimum pool size.
DEFAULT_MAX_CONCURRENCY = 32
#: botocore settings cachekit picks when ``s3_config`` does not set them.
_CONFIG_DEFAULTS: dict[str, Any] = {"connect_timeout": 5, "read_timeout": 30}
#: One retry: a cache read that fails should fail fast (the call goes on uncached).
_RETRY_DEFAULTS: dict[str, Any] = {"mode": "standard", "total_max_attempts": 2}
_ADDRESSING_STYLES = ("auto", "path", "virtual")
_BOTOCORE = ("botocore.", "aiobotocore.")
#: Bucket names S3 and its look-alikes accept (AWS's own rules are stricter).
_BUCKET = re.compile(r"[A-Za-z0-9._\-]{1,255}")


def _optional_str(name: str, value: object, *, secret: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        shown = type(value).__name__ if secret else repr(value)
        raise ConfigurationError(f"s3 backend: {name} must be a non-empty string, got {shown}")
    return value


def _flag(name: str, value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConfigurationError(f"s3 backend: {name} must be True or False, got {value!r}")


@dataclass
class S3Settings:
    """Validated backend options (credentials are kept out of ``repr``)."""

    bucket: str
    path: str
    region: str | None
    api_version: str | None
    use_ssl: bool
    verify: bool | str | None
    endpoint: str | None
    key_id: str | None = field(repr=False)
    secret: str | None = field(repr=False)
    token: str | None = field(repr=False)
    user_config: Any = field(repr=False)
    addressing_style: str | None
    max_concurrency: int
    _config: Any = field(default=None, repr=False)

    @classmethod
    def parse(
        cls,
        *,
        s3_bucket_name: object,
        s3_region_name: object,
        s3_api_version: object,
        s3_path: object,
        s3_use_ssl: object,
        s3_verify: object,
        s3_endpoint_url: object,
        s3_aws_access_key_id: object,
        s3_aws_secret_access_key: object,
        s3_aws_session_token: object,
        s3_config: object,
        addressing_style: object,
        max_concurrency: object,
    ) -> S3Settings:
        """Check every option; raise :class:`ConfigurationError` for a bad one."""
        bucket = _optional_str("s3_bucket_name", s3_bucket_name)
        if bucket is None:
            raise ConfigurationError(
                "s3 backend: s3_bucket_name is required, e.g. "
                "Cache(type='s3', s3_bucket_name='my-bucket') or Cache.from_url('s3://my-bucket/prefix')"
            )
        if not (_BUCKET.fullmatch(bucket) or bucket.startswith("arn:")):
            # Not echoed: a URL such as s3://KEY:SECRET@bucket would put a secret here.
            raise ConfigurationError(
                "s3 backend: s3_bucket_name is not a bucket name (letters, digits, '.', '-' "
                "and '_', or an access point ARN); put a key prefix in s3_path, and "
                "credentials in s3_aws_access_key_id/s3_aws_secret_access_key"
            )
        path = _optional_str("s3_path", s3_path) if s3_path != "" else None
        endpoint = _optional_str("s3_endpoint_url", s3_endpoint_url)
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"s3 backend: s3_endpoint_url must start with http:// or https://, got {endpoint!r}"
            )
        key_id = _optional_str("s3_aws_access_key_id", s3_aws_access_key_id, secret=True)
        secret = _optional_str("s3_aws_secret_access_key", s3_aws_secret_access_key, secret=True)
        token = _optional_str("s3_aws_session_token", s3_aws_session_token, secret=True)
        if (key_id is None) != (secret is None):
            raise ConfigurationError(
                "s3 backend: give both s3_aws_access_key_id and s3_aws_secret_access_key, "
                "or neither (to use the AWS credential chain)"
            )
        if token is not None and key_id is None:
            raise ConfigurationError(
                "s3 backend: s3_aws_session_token needs s3_aws_access_key_id and "
                "s3_aws_secret_access_key"
            )
        verify = s3_verify
        if isinstance(verify, int) and not isinstance(verify, bool) and verify in (0, 1):
            verify = bool(verify)
        if verify is not None and not isinstance(verify, bool | str):
            raise ConfigurationError(
                f"s3 backend: s3_verify must be True, False or a CA bundle path, got {verify!r}"
            )
        if addressing_style is not None and addressing_style not in _ADDRESSING_STYLES:
            raise ConfigurationError(
                f"s3 backend: addressing_style must be one of {', '.join(_ADDRESSING_STYLES)}, "
                f"got {addressing_style!r}"
            )
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ConfigurationError(
                f"s3 backend: max_concurrency must be a positive integer, got {max_concurrency!r}"
            )
        if s3_config is not None and not (
            isinstance(s3_config, Mapping) or type(s3_config).__module__.startswith(_BOTOCORE)
        ):
            raise ConfigurationError(
                "s3 backend: s3_config must be a botocore.config.Config or a dict of its "
                f"arguments, got {type(s3_config).__name__}"
            )

        return cls(
            bucket=bucket,
            path=path or "",
            region=_optional_str("s3_region_name", s3_region_name),
            api_version=_optional_str("s3_api_version", s3_api_version),
            use_ssl=_flag("s3_use_ssl", s3_use_ssl, True),
            verify=verify,
            endpoint=endpoint,
            key_id=key_id,
            secret=secret,
            token=token,
            user_config=s3_config,
            addressing_style=addressing_style,
            max_concurrency=max_concurrency,
        )

    def botocore_config(self) -> Any:
        """``s3_config`` merged over cachekit's defaults. Built on first use, in the worker
        thread, because importing ``botocore.config`` takes ~0.5 s."""
        if self._config is not None:
            return self._config
        from botocore.config import Config  # type: ignore[import-untyped]

        user = self.user_config
        try:
            given = user if isinstance(user, Config) else Config(**dict(user or {}))
        except TypeError as exc:
            raise S3ConfigurationError(f"s3 backend: s3_config is not valid: {exc}") from None
        # Dict-valued settings merge key by key, so s3_config={"retries": {"mode": "adaptive"}}
        # keeps the other defaults.
        retries = dict(_RETRY_DEFAULTS)
        if {"max_attempts", "total_max_attempts"} & set(given.retries or {}):
            del retries["total_max_attempts"]
        retries.update(given.retries or {})
        s3_options = dict(given.s3 or {})
        if self.addressing_style is not None:
            s3_options["addressing_style"] = self.addressing_style
        config = Config(
            **_CONFIG_DEFAULTS, max_pool_connections=max(10, self.max_concurrency)
        ).merge(given)
        config = config.merge(Config(retries=retries, s3=s3_options or None))
        self._config = config
        return config

    def session_options(self) -> dict[str, Any]:
        """Session options: explicit credentials and region (``None`` credentials: the AWS chain)."""
        return {
            "aws_access_key_id": self.key_id,
            "aws_secret_access_key": self.secret,
            "aws_session_token": self.token,
            "region_name": self.region,
        }

    def client_options(self) -> dict[str, Any]:
        """``session.client("s3", ...)`` keyword arguments (builds the botocore config)."""
        return {
            "region_name": self.region,
            "api_version": self.api_version,
            "use_ssl": self.use_ssl,
            "verify": self.verify,
            "endpoint_url": self.endpoint,
            "config": self.botocore_config(),
        }
