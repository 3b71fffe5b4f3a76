"""``Cache.from_url`` scheme of the ``disk`` backend: ``disk:///path/to/dir?options``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cachekit import hookimpl
from cachekit.hookspecs import RegisterUrlScheme

__all__ = ["cachekit_register_url_schemes", "parse_disk_url"]


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


def parse_disk_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    options: dict[str, Any] = {"type": "disk"}
    path = unquote(parts.netloc + parts.path)
    if path:
        options["disk_cache_dir"] = path
    options.update({k: _coerce(v) for k, v in parse_qsl(parts.query, keep_blank_values=True)})
    return options


@hookimpl
def cachekit_register_url_schemes(register: RegisterUrlScheme) -> None:
    register("disk", parse_disk_url)
