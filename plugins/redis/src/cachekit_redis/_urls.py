"""``Cache.from_url`` schemes of the ``redis`` backend.

``redis://``, ``rediss://``, ``unix://`` and the ``redis+cluster://`` /
``redis+sentinel://`` forms (also over TLS, ``rediss+…``) all go to the backend as
its ``url`` option, as written (the core has already taken out its own query
options); the backend reads the address, credentials and query options from it.
"""

from __future__ import annotations

from typing import Any

from cachekit import hookimpl
from cachekit.hookspecs import RegisterUrlScheme

__all__ = ["SCHEMES", "cachekit_register_url_schemes", "parse_redis_url"]

SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+cluster",
    "rediss+cluster",
    "redis+sentinel",
    "rediss+sentinel",
)


def parse_redis_url(url: str) -> dict[str, Any]:
    return {"type": "redis", "url": url}


@hookimpl
def cachekit_register_url_schemes(register: RegisterUrlScheme) -> None:
    for scheme in SCHEMES:
        register(scheme, parse_redis_url)
