"""Key rotation in place: every entry of a namespace re-encrypted under the current key.

::

    backend.scan(prefix) → batches of keys → get_many → per entry:
        absent or expired            skip (gone)
        sealed with the current key  skip (current): a rerun resumes where one stopped
        opens with a listed key      re-seal under the current key
        (or is plaintext, when the cache allows plaintext reads: encrypt it)
        opens with none              leave it (unreadable; it reads as a miss)
    → read the batch again; write back only what did not change meanwhile, each entry
      with its remaining lifetime (from its envelope; its creation time is kept).

Readers are never served a wrong value: the plaintext an entry holds is the same
before and after (only its sealing changes), and readers configured with
``[new, old]`` open both forms. The second read narrows the one race a store without
compare-and-set leaves: a writer that replaces an entry between that read and the
write-back has its fresh value replaced by the entry it replaced, which answered the
same key a moment earlier, and which the next write of that key replaces in turn.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import anyio

from cachekit._engine._engine import Engine
from cachekit._policy._crypto import MAGIC, AesGcmProtector, parse_key_list
from cachekit._policy._envelope import decode_entry
from cachekit._policy._keys import namespace_prefix
from cachekit._storage._tiered import TieredBackend
from cachekit.exceptions import ConfigurationError, EntryError

if TYPE_CHECKING:
    from cachekit._cache import Cache

__all__ = ["DEFAULT_BATCH", "Progress", "RekeyReport", "rekey_cache", "rekey_namespace"]

#: Keys read (one ``get_many``) and written back per step.
DEFAULT_BATCH = 100
#: Writes in flight at once within a batch (remote backends).
_WRITERS = 16


@dataclass
class RekeyReport:
    """What a rotation did so far (also handed to ``progress`` after each batch).

    ``rekeyed``: entries re-encrypted under the current key; ``encrypted``: plaintext
    entries encrypted (only with ``allow_plaintext_reads``); ``current``: already under
    the current key (skipped); ``gone``: expired or removed before they were read;
    ``changed``: replaced by another writer during the batch (left as written);
    ``unreadable``: no listed key opens them (left in place, read as misses).
    """

    namespace: str
    key_id: str
    scanned: int = 0
    rekeyed: int = 0
    encrypted: int = 0
    current: int = 0
    gone: int = 0
    changed: int = 0
    unreadable: int = 0
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Called with the report after each batch and at the end; may be ``async def``.
Progress = Callable[[RekeyReport], Awaitable[None] | None]


async def rekey_cache(
    cache: Cache,
    old_keys: object = None,
    *,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> RekeyReport:
    """``Cache.arekey``: the cache's namespace under its current key, opening entries
    with any key the cache lists or ``old_keys`` names."""
    engine = cache._engine
    protector = engine.protector
    if not isinstance(protector, AesGcmProtector):
        raise ConfigurationError(
            "rekey needs an encrypted cache: build it with encryption_key=NEW "
            "(or encryption_keys=[NEW, *older]) and pass the keys being retired as old_keys"
        )
    extra = parse_key_list(old_keys, "old_keys")
    return await rekey_namespace(
        engine,
        protector.with_keys(extra) if extra else protector,
        namespace_prefix(cache.namespace),
        cache.namespace,
        progress=progress,
        batch_size=batch_size,
    )


async def rekey_namespace(
    engine: Engine,
    protector: AesGcmProtector,
    prefix: str,
    namespace: str,
    *,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> RekeyReport:
    """Re-encrypt every entry under ``prefix`` with ``protector``'s current key
    (see the module docstring); entries sealed with its other keys are opened."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
    report = RekeyReport(namespace=namespace, key_id=protector.key_ids[0])
    start = time.perf_counter()
    batch: list[str] = []
    scan = engine.backend.scan(prefix)
    try:
        while True:
            try:
                key = await scan.__anext__()
            except StopAsyncIteration:
                break
            except NotImplementedError:
                raise ConfigurationError(
                    f"the {engine.name} backend cannot list its keys, so its entries cannot "
                    "be re-encrypted in place; clear the namespace instead, or let it expire"
                ) from None
            except Exception as exc:
                raise engine.mapped("scan", exc) from exc
            batch.append(key)
            if len(batch) >= batch_size:
                await _rekey_batch(engine, protector, list(dict.fromkeys(batch)), report)
                batch = []
                await _report(report, start, progress)
        if batch:
            await _rekey_batch(engine, protector, list(dict.fromkeys(batch)), report)
    finally:
        close = getattr(scan, "aclose", None)  # an async generator: release its cursor
        if close is not None:
            await close()
    await _report(report, start, progress)
    return report


async def _report(report: RekeyReport, start: float, progress: Progress | None) -> None:
    report.elapsed_s = time.perf_counter() - start
    if progress is not None:
        result = progress(report)
        if inspect.isawaitable(result):
            await result


async def _rekey_batch(
    engine: Engine, protector: AesGcmProtector, keys: list[str], report: RekeyReport
) -> None:
    backend = engine.backend
    # Read the store itself, not an L1's copies (they may be stale, see TieredBackend);
    # write through the tier so that this cache's L1 follows.
    store = backend.l2 if isinstance(backend, TieredBackend) else backend
    report.scanned += len(keys)
    raws = await engine.io("get_many", store.get_many, keys)
    now = engine.clock()
    planned: dict[str, tuple[bytes, bytes, float | None]] = {}  # key: (old, new, ttl)
    for key, raw in zip(keys, raws, strict=True):
        if raw is None:
            report.gone += 1
            continue
        if protector.sealed_with_current(raw):
            report.current += 1
            continue
        try:
            plain = protector.open(key, raw)
            entry = decode_entry(plain)
        except EntryError:
            report.unreadable += 1
            continue
        # what the backend was given: freshness plus the stale window (kept, not cut)
        ttl = None if entry.expires_at is None else entry.expires_at + entry.stale_bound - now
        if ttl is not None and ttl <= 0:
            report.gone += 1
            continue
        planned[key] = (raw, protector.seal(key, plain), ttl)
    if not planned:
        return
    # Read again: write back only the entries nobody replaced since the first read.
    again = await engine.io("get_many", store.get_many, list(planned))
    writes: list[tuple[str, bytes, float | None]] = []
    for (key, (old, new, ttl)), raw in zip(planned.items(), again, strict=True):
        if raw != old:
            report.changed += 1
            continue
        writes.append((key, new, ttl))
        if old.startswith(MAGIC):
            report.rekeyed += 1
        else:  # a plaintext entry (read because the cache allows plaintext reads)
            report.encrypted += 1
    await _write(engine, writes)


async def _write(engine: Engine, writes: list[tuple[str, bytes, float | None]]) -> None:
    """Each entry with its own lifetime; entries without one in a single batch."""
    backend = engine.backend
    forever = {key: new for key, new, ttl in writes if ttl is None}
    timed = [(key, new, ttl) for key, new, ttl in writes if ttl is not None]
    if forever:
        await engine.io("set_many", backend.set_many, forever, None)
    if not timed:
        return
    if engine.inline:
        for key, new, ttl in timed:
            await engine.io("set", backend.set, key, new, ttl)
        return
    limiter = anyio.CapacityLimiter(_WRITERS)

    async def put(key: str, new: bytes, ttl: float) -> None:
        async with limiter:
            await engine.io("set", backend.set, key, new, ttl)

    try:
        async with anyio.create_task_group() as group:
            for key, new, ttl in timed:
                group.start_soon(put, key, new, ttl)
    except BaseExceptionGroup as errors:
        first = _first_error(errors)
        if first is None:
            raise
        raise first from None


def _first_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The first ordinary failure in a task group's (nested) exceptions."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _first_error(exc)
            if found is not None:
                return found
        elif isinstance(exc, Exception):
            return exc
    return None
