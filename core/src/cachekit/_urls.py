"""``Cache.from_url``: turn a URL into ``Cache`` keyword arguments."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cachekit.exceptions import ConfigurationError

__all__ = ["options_from_url"]

#: Query parameters that configure the core rather than the backend.
_CORE_OPTIONS: dict[str, type] = {
    "namespace": str,
    "ttl": float,
    "timeout": float,
    "l1_ttl": float,
    "l1_max_size": int,
    "l1_max_size_bytes": int,
}

_S3_ALIASES = {
    "endpoint_url": "s3_endpoint_url",
    "region": "s3_region_name",
    "region_name": "s3_region_name",
    "use_ssl": "s3_use_ssl",
    "verify": "s3_verify",
    "api_version": "s3_api_version",
}


def _coerce(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def options_from_url(url: str) -> dict[str, Any]:
    """Map ``redis://``, ``rediss://``, ``redis+cluster://``, ``redis+sentinel://``,
    ``s3://bucket/prefix``, ``disk:///dir``, ``local://`` and ``<type>://…`` (any
    installed backend, which receives ``url=``) to ``Cache`` keyword arguments.
    Query parameters become options; ``namespace``, ``ttl`` and ``timeout`` go to the
    core. Credentials in the URL are passed on, never logged.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(f"not a cache URL (expected scheme://...): {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    options: dict[str, Any] = {}
    for name, kind in _CORE_OPTIONS.items():
        if name in query:
            raw = query.pop(name)
            try:
                options[name] = kind(raw)
            except ValueError:
                raise ConfigurationError(f"URL option {name}={raw!r} is not valid") from None
    if scheme in ("redis", "rediss", "unix") or scheme.startswith(("redis+", "rediss+")):
        options["type"] = "redis"
        # The URL goes to the backend as written, minus the core's query options.
        base = url.split("?", 1)[0]
        rest = "&".join(f"{k}={v}" for k, v in query.items())
        options["url"] = f"{base}?{rest}" if rest else base
        return options
    if scheme == "s3":
        if not parts.netloc:
            raise ConfigurationError("s3:// URL needs a bucket: s3://bucket/prefix")
        if "@" in parts.netloc:
            raise ConfigurationError(
                "s3:// URLs take no credentials (s3://bucket/prefix); pass "
                "s3_aws_access_key_id/s3_aws_secret_access_key or use the AWS credential chain"
            )
        options.update(type="s3", s3_bucket_name=parts.netloc)
        prefix = unquote(parts.path).strip("/")
        if prefix:
            options["s3_path"] = prefix
        for key, value in query.items():
            options[_S3_ALIASES.get(key, key)] = _coerce(value)
        return options
    if scheme == "disk":
        path = unquote(parts.netloc + parts.path)
        options["type"] = "disk"
        if path:
            options["disk_cache_dir"] = path
    elif scheme in ("local", "memory", "mem"):
        options["type"] = "local"
    else:
        options["type"] = scheme
        options["url"] = url
        return options
    options.update({k: _coerce(v) for k, v in query.items()})
    return options
