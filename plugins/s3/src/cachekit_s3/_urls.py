"""``Cache.from_url`` scheme of the ``s3`` backend: ``s3://bucket/prefix?options``.

The path is the key prefix (``s3_path``); query options are the backend's, with
short aliases (``endpoint_url``, ``region``, ``use_ssl``, ``verify``,
``api_version``). Credentials are never taken from a URL (it ends up in shell
history and logs): use ``s3_aws_access_key_id``/``s3_aws_secret_access_key`` or the
AWS credential chain.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from cachekit import ConfigurationError, hookimpl, query_options
from cachekit.hookspecs import RegisterUrlScheme

__all__ = ["cachekit_register_url_schemes", "parse_s3_url"]

_ALIASES = {
    "endpoint_url": "s3_endpoint_url",
    "region": "s3_region_name",
    "region_name": "s3_region_name",
    "use_ssl": "s3_use_ssl",
    "verify": "s3_verify",
    "api_version": "s3_api_version",
}


def parse_s3_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if not parts.netloc:
        raise ConfigurationError("s3:// URL needs a bucket: s3://bucket/prefix")
    if "@" in parts.netloc:
        raise ConfigurationError(
            "s3:// URLs take no credentials (s3://bucket/prefix); pass "
            "s3_aws_access_key_id/s3_aws_secret_access_key or use the AWS credential chain"
        )
    options: dict[str, Any] = {"type": "s3", "s3_bucket_name": parts.netloc}
    prefix = unquote(parts.path).strip("/")
    if prefix:
        options["s3_path"] = prefix
    options.update(query_options(url, _ALIASES))
    return options


@hookimpl
def cachekit_register_url_schemes(register: RegisterUrlScheme) -> None:
    register("s3", parse_s3_url)
