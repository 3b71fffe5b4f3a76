"""One-time work botocore/aiobotocore would otherwise do inside a client's first requests.

A new client still builds lazily, on first use: the operation models and shapes of
each operation it serialises and parses and its exception classes (~5-8 ms of CPU for
the operations cachekit uses, more on a busy machine), and its aiohttp session with
the connector and TLS context. :class:`cachekit_s3._clients.LoopClients` calls these helpers when it opens a
client, so that operations only do their own work. Both reach into botocore's models
and aiobotocore's HTTP session, so both are best effort: if a release changes shape,
the first request does the work as before.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

__all__ = ["OPERATIONS", "open_http_session", "warm_models"]

logger = logging.getLogger("cachekit.s3")

#: The S3 operations the backend calls.
OPERATIONS = (
    "GetObject",
    "PutObject",
    "HeadObject",
    "DeleteObject",
    "DeleteObjects",
    "ListObjectsV2",
)
#: ServiceModel properties read while serialising/parsing (not all of them: some walk
#: every operation of the service).
_SERVICE_PROPERTIES = ("client_context_parameters", "_error_code_cache", "error_shapes")


def warm_models(client: Any) -> None:
    """Compute the cached properties of :data:`OPERATIONS`' models and of every shape
    they reach, and the client's exception classes (built when the first error reply,
    such as a miss's 404, is parsed). Plain CPU on objects no other thread uses yet:
    run it in a worker thread before the client is handed out."""
    from botocore.utils import CachedProperty  # type: ignore[import-untyped]

    def touch(obj: Any) -> None:
        for cls in type(obj).__mro__:
            for name, attr in vars(cls).items():
                if isinstance(attr, CachedProperty):
                    with contextlib.suppress(Exception):
                        getattr(obj, name)

    def walk(shape: Any, path: frozenset[str]) -> None:
        if shape is None or shape.name in path:
            return  # recursive shapes: each shape once per path
        touch(shape)
        inner = path | {shape.name}
        children = list(getattr(shape, "members", {}).values())
        children += [getattr(shape, attr, None) for attr in ("member", "key", "value")]
        for child in children:
            walk(child, inner)

    try:
        client.exceptions  # noqa: B018 (built on first access)
        service_model = client.meta.service_model
        for name in _SERVICE_PROPERTIES:
            with contextlib.suppress(Exception):
                getattr(service_model, name)
        for operation in OPERATIONS:
            model = service_model.operation_model(operation)
            touch(model)
            walk(model.input_shape, frozenset())
            walk(model.output_shape, frozenset())
            for error in model.error_shapes:
                walk(error, frozenset())
    except Exception:
        logger.debug("s3: warming botocore's operation models failed", exc_info=True)


async def open_http_session(client: Any) -> None:
    """Open the client's aiohttp session (connector, TLS context) now instead of on its
    first request. aiobotocore creates it lazily, per proxy URL."""
    try:
        http_session = client._endpoint.http_session
        proxy_url = http_session._proxy_config.proxy_url_for(client.meta.endpoint_url)
        get_session = http_session._get_session
    except AttributeError:
        logger.debug("s3: cannot pre-open the HTTP session on this aiobotocore version")
        return
    await get_session(proxy_url)
