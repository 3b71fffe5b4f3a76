"""``Cache.from_url`` scheme of the ``disk`` backend: ``disk:///path/to/dir?options``."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from cachekit import hookimpl, query_options
from cachekit.hookspecs import RegisterUrlScheme

__all__ = ["cachekit_register_url_schemes", "parse_disk_url"]


def parse_disk_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    options: dict[str, Any] = {"type": "disk"}
    path = unquote(parts.netloc + parts.path)
    if path:
        options["disk_cache_dir"] = path
    options.update(query_options(url))
    return options


@hookimpl
def cachekit_register_url_schemes(register: RegisterUrlScheme) -> None:
    register("disk", parse_disk_url)
