"""The ``s3`` backend: cachekit entries as S3 objects, through aiobotocore.

* **One long-lived client per event loop**, opened without blocking the loop (see
  :mod:`cachekit_s3._clients`) by :meth:`S3Backend.connect` or the first operation,
  and closed by :meth:`S3Backend.aclose`.
* **Expiry.** S3 has no per-object TTL. A write with a lifetime stores its deadline
  as ``x-amz-meta-cachekit-expires-at`` (Unix seconds, float) and as the HTTP
  ``Expires`` header; a read past the deadline is a miss (``get_object`` returns the
  metadata, so no extra HEAD). Expired objects stay until overwritten, cleared, or
  purged by a bucket lifecycle rule (see the README).
* **Batches.** ``get_many``/``set_many`` run at most ``max_concurrency`` requests at
  once; ``clear`` pages through ``list_objects_v2`` and deletes 1000 keys per
  ``delete_objects`` call; ``scan`` pages through the same listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from cachekit import AsyncBackend, BackendError, CacheKitError, ConfigurationError, Usage

from cachekit_s3._clients import LoopClients
from cachekit_s3._errors import S3KeyError, is_not_found, translate
from cachekit_s3._keys import MAX_KEY_BYTES, KeyLayout
from cachekit_s3._settings import DEFAULT_MAX_CONCURRENCY, S3Settings

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DELETE_BATCH", "EXPIRES_METADATA", "S3Backend"]

T = TypeVar("T")
R = TypeVar("R")

#: User metadata holding an entry's deadline (sent as ``x-amz-meta-cachekit-expires-at``).
EXPIRES_METADATA = "cachekit-expires-at"
_USAGE_NOTE = "includes expired objects not yet removed (S3 keeps them until cleared)"
#: Keys per ``delete_objects`` call (S3's maximum).
DELETE_BATCH = 1000


class S3Backend(AsyncBackend):
    """Stores cachekit entries as objects in one S3 bucket (AWS, MinIO, R2, moto…).

    Options use LiteLLM's names: ``s3_bucket_name`` (required), ``s3_region_name``,
    ``s3_api_version``, ``s3_path`` (object-key prefix), ``s3_use_ssl``,
    ``s3_verify`` (False, or a CA bundle path), ``s3_endpoint_url``,
    ``s3_aws_access_key_id``, ``s3_aws_secret_access_key``, ``s3_aws_session_token``
    and ``s3_config`` (a ``botocore.config.Config`` or a dict of its arguments).
    Without explicit keys the normal AWS credential chain applies (environment,
    shared files, SSO, instance/container roles). Also: ``addressing_style``
    (``"path"`` for MinIO-style endpoints), ``max_concurrency`` (requests in flight
    per batch) and ``clock`` (wall-clock ``() -> float``, injectable for tests).

    Object layout: ``<s3_path>/<namespace>/<escaped rest of key>`` (see
    :mod:`cachekit_s3._keys`). Constructing a backend does no I/O; a missing bucket
    or rejected credentials surface as :class:`~cachekit_s3.S3ConfigurationError` at
    first use.
    """

    native_ttl: ClassVar[bool] = False
    #: Every process that opens the bucket sees the same objects (and shared counters).
    shared = True
    #: Keys per ``list_objects_v2`` page and per ``delete_objects`` call in ``clear``
    #: (S3's maxima; tests lower them to exercise paging on a few objects).
    list_page_size: ClassVar[int] = 1000
    delete_batch_size: ClassVar[int] = DELETE_BATCH

    def __init__(
        self,
        *,
        s3_bucket_name: str | None = None,
        s3_region_name: str | None = None,
        s3_api_version: str | None = None,
        s3_path: str | None = None,
        s3_use_ssl: bool | None = True,
        s3_verify: bool | str | None = None,
        s3_endpoint_url: str | None = None,
        s3_aws_access_key_id: str | None = None,
        s3_aws_secret_access_key: str | None = None,
        s3_aws_session_token: str | None = None,
        s3_config: Any = None,
        addressing_style: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(clock):
            raise ConfigurationError(f"s3 backend: clock must be a callable, got {clock!r}")
        self._settings = settings = S3Settings.parse(
            s3_bucket_name=s3_bucket_name,
            s3_region_name=s3_region_name,
            s3_api_version=s3_api_version,
            s3_path=s3_path,
            s3_use_ssl=s3_use_ssl,
            s3_verify=s3_verify,
            s3_endpoint_url=s3_endpoint_url,
            s3_aws_access_key_id=s3_aws_access_key_id,
            s3_aws_secret_access_key=s3_aws_secret_access_key,
            s3_aws_session_token=s3_aws_session_token,
            s3_config=s3_config,
            addressing_style=addressing_style,
            max_concurrency=max_concurrency,
        )
        self._bucket = settings.bucket
        self._max_concurrency = settings.max_concurrency
        self._clock = clock
        self._layout = KeyLayout(settings.path)
        self._clients = LoopClients(self._prepare, self._translate_connect, _skip_expires_parsing)

    # -- introspection ----------------------------------------------------------
    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    @property
    def layout(self) -> KeyLayout:
        """How core keys map to object keys (``layout.object_key(key)``)."""
        return self._layout

    def __repr__(self) -> str:
        where = f", endpoint={self._settings.endpoint!r}" if self._settings.endpoint else ""
        return (
            f"S3Backend(bucket={self._bucket!r}, s3_path={self._layout.base.rstrip('/')!r}{where})"
        )

    # -- clients, one per event loop (see cachekit_s3._clients) -------------------
    async def connect(self) -> None:
        """Do this event loop's one-time set-up now: wait for the library preload (started
        when the backend was built), build the botocore config in a worker thread, create
        the client, resolve credentials, open its HTTP session.

        The core calls it before operations, outside the per-operation timeout and the
        circuit breaker: the first client of a process waits for aiobotocore to load
        (~1 s, several on a busy machine), which must not count as a slow or failing
        backend. Idempotent; once done for this loop it is a dict lookup, and operations
        only look the client up. Operations still work without it (they call it on
        first use). Sends no request, so a missing bucket or rejected credentials show
        at the first operation; an invalid ``s3_config`` raises
        :class:`~cachekit_s3.S3ConfigurationError` here."""
        await self._clients.connect()

    def _prepare(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Session and client options (runs in a worker thread: builds the botocore config)."""
        return self._settings.session_options(), self._settings.client_options()

    # -- helpers ------------------------------------------------------------------
    def _key(self, key: str) -> str | None:
        """The object key for ``key``, or ``None`` when S3 could not store it."""
        object_key = self._layout.object_key(key)
        return object_key if self._layout.fits(object_key) else None

    def _expired(self, response: Mapping[str, Any]) -> bool:
        stamp = response.get("Metadata", {}).get(EXPIRES_METADATA)
        if stamp is None:
            return False
        try:
            return self._clock() >= float(stamp)
        except ValueError:
            return False  # unreadable metadata: the core still checks the envelope

    async def _bounded(self, fn: Callable[[T], Awaitable[R]], items: Sequence[T]) -> list[R]:
        """``[await fn(item) for item in items]`` with at most ``max_concurrency`` in flight."""
        results: list[Any] = [None] * len(items)
        work: Iterator[tuple[int, T]] = iter(enumerate(items))

        async def worker() -> None:
            for index, item in work:
                results[index] = await fn(item)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._max_concurrency, len(items))):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:
            error = _first_error(group_error)
            if error is None:
                raise
            raise error from error.__cause__
        return results

    # -- primitives -----------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        object_key = self._key(key)
        if object_key is None:
            return None  # too long to have been stored
        client = await self._clients.get()
        try:
            response = await client.get_object(Bucket=self._bucket, Key=object_key)
            async with response["Body"] as body:
                data: bytes = await body.read()
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise translate(exc, "get", self._bucket) from exc
        if self._expired(response):
            return None
        return data

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        object_key = self._key(key)
        if object_key is None:
            raise S3KeyError(
                f"s3 set: key is longer than S3's {MAX_KEY_BYTES} bytes once escaped "
                f"(object key would start {self._layout.object_key(key)[:60]!r}…)"
            )
        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": object_key,
            "Body": value,
            "ContentType": "application/json",
        }
        if ttl is not None:
            expires_at = self._clock() + ttl
            if math.isfinite(expires_at):
                params["Metadata"] = {EXPIRES_METADATA: repr(expires_at)}
                # Beyond what an HTTP date can say, the metadata alone holds the deadline.
                with contextlib.suppress(OverflowError, OSError, ValueError):
                    params["Expires"] = datetime.fromtimestamp(expires_at, UTC)
        client = await self._clients.get()
        try:
            await client.put_object(**params)
        except Exception as exc:
            raise translate(exc, "set", self._bucket) from exc

    async def delete(self, key: str) -> bool:
        object_key = self._key(key)
        if object_key is None:
            return False
        client = await self._clients.get()
        try:
            # S3's DELETE does not say whether the key existed: ask first.
            head = await client.head_object(Bucket=self._bucket, Key=object_key)
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise translate(exc, "delete", self._bucket) from exc
        try:
            await client.delete_object(Bucket=self._bucket, Key=object_key)
        except Exception as exc:
            raise translate(exc, "delete", self._bucket) from exc
        return not self._expired(head)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        unique = list(dict.fromkeys(keys))
        if len(unique) == 1:
            return [await self.get(unique[0])] * len(keys)
        found = dict(zip(unique, await self._bounded(self.get, unique), strict=True))
        return [found[key] for key in keys]

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        items = list(mapping.items())
        if len(items) == 1:
            await self.set(items[0][0], items[0][1], ttl)
        elif items:

            async def put(item: tuple[str, bytes]) -> None:
                await self.set(item[0], item[1], ttl)

            await self._bounded(put, items)

    async def clear(self, prefix: str) -> int:
        layout = self._layout
        client = await self._clients.get()
        removed = 0
        try:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket,
                Prefix=layout.listing_prefix(prefix),
                PaginationConfig={"PageSize": self.list_page_size},
            )
            async for page in pages:
                doomed = []
                for item in page.get("Contents", ()):
                    core_key = layout.core_key(item["Key"])
                    if core_key is not None and core_key.startswith(prefix):
                        doomed.append(item["Key"])
                batch = self.delete_batch_size
                for start in range(0, len(doomed), batch):
                    removed += await self._delete_objects(client, doomed[start : start + batch])
        except CacheKitError:
            raise
        except Exception as exc:
            raise translate(exc, "clear", self._bucket) from exc
        return removed

    async def _listing(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        """``(key, size)`` of each object whose key starts with ``prefix``, one
        ``list_objects_v2`` page at a time."""
        layout = self._layout
        client = await self._clients.get()
        pages = (
            client.get_paginator("list_objects_v2")
            .paginate(
                Bucket=self._bucket,
                Prefix=layout.listing_prefix(prefix),
                PaginationConfig={"PageSize": self.list_page_size},
            )
            .__aiter__()
        )
        while True:
            try:
                page = await pages.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:
                raise translate(exc, "scan", self._bucket) from exc
            for item in page.get("Contents", ()):
                core_key = layout.core_key(item["Key"])
                if core_key is not None and core_key.startswith(prefix):
                    yield core_key, int(item.get("Size", 0))

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        """Keys starting with ``prefix``, one ``list_objects_v2`` page at a time
        (expired objects not yet removed included: a read of them is a miss)."""
        async for key, _ in self._listing(prefix):
            yield key

    async def usage(self, prefix: str) -> Usage:
        """Objects under ``prefix`` and their sizes, from the listing alone (no reads).
        S3 has no expiry of its own, so objects past their lifetime that nothing has
        removed yet are counted (the note says so)."""
        entries = size = 0
        async for _, nbytes in self._listing(prefix):
            entries += 1
            size += nbytes
        return Usage(entries, size, _USAGE_NOTE)

    async def _delete_objects(self, client: Any, keys: list[str]) -> int:
        response = await client.delete_objects(
            Bucket=self._bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        errors = response.get("Errors") or []
        if errors:
            codes = ", ".join(sorted({str(e.get("Code", "?")) for e in errors}))
            raise BackendError(
                f"s3 clear on bucket {self._bucket!r}: {len(errors)} of {len(keys)} objects "
                f"could not be deleted ({codes})"
            )
        return len(keys)

    async def aclose(self) -> None:
        await self._clients.aclose()

    def _translate_connect(self, exc: BaseException) -> CacheKitError:
        return translate(exc, "connect", self._bucket)


def _drop_expires_header(response_dict: dict[str, Any], **_: Any) -> None:
    response_dict["headers"].pop("expires", None)


def _skip_expires_parsing(client: Any) -> None:
    """Reads take the deadline from the metadata; botocore would also parse the
    ``Expires`` header into a datetime (dateutil: ~0.25 ms of CPU per read, more than
    everything else cachekit adds), so it is dropped before parsing."""
    for operation in ("GetObject", "HeadObject"):
        client.meta.events.register(f"before-parse.s3.{operation}", _drop_expires_header)


def _first_error(group: BaseExceptionGroup[BaseException]) -> CacheKitError | None:
    """The first ordinary failure in a task group's exceptions, as a cachekit error."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _first_error(exc)
            if found is not None:
                return found
        elif isinstance(exc, CacheKitError):
            return exc
        elif isinstance(exc, Exception):
            error = BackendError(f"s3 batch failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            return error
    return None
