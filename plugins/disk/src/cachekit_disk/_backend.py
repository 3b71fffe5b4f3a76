"""``DiskBackend``: the async face of :class:`~cachekit_disk._store.DiskStore`.

Every operation is one hop to a worker thread that does all of its file work
(hashing the key, open, read or write, rename) and comes back once. Measured side by
side (benchmarks/workloads/disk_kv.py) against aiofiles, which hops to a thread for
each file call (open, read, close: three hops for a get), and a hop is most of the
cost of a hit: ~35-100 µs on the benchmark machine against ~10 µs of file work.

The hop itself: on asyncio, :class:`~cachekit_disk._hop.ThreadHop` (a queue and one
``call_soon_threadsafe`` back); under any other event loop (trio),
``anyio.to_thread.run_sync``. All were measured: on asyncio anyio's hop (a checkpoint
and a capacity-limiter round per call) cost ~1.4x a get hit of this one, and
``loop.run_in_executor`` ~75 µs per hop against ~34 µs. The threads are not bound to
a loop, so the backend works from any event loop (the sync face of ``Cache`` runs its
own). A cancelled operation (``Cache(timeout=)``) returns at once; its thread finishes
the file work in the background, which is harmless because every write is atomic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, TypeVar, get_args

import anyio.to_thread
from cachekit import (
    AsyncBackend,
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    Usage,
)

from cachekit_disk._hop import ThreadHop
from cachekit_disk._scan import shard_keys, shard_usage, shards_for
from cachekit_disk._store import DiskStore, FsyncPolicy

__all__ = ["DiskBackend", "default_cache_dir"]

logger = logging.getLogger("cachekit.disk")

T = TypeVar("T")

#: Worker threads per backend: enough to overlap file calls, few enough that a
#: burst of tasks queues instead of thrashing the disk.
IO_THREADS = min(32, (os.cpu_count() or 1) + 4)


def default_cache_dir() -> str:
    """The platform's user cache directory for cachekit (``~/.cache/cachekit`` on
    Linux, ``~/Library/Caches/cachekit`` on macOS, ``%LOCALAPPDATA%\\cachekit\\Cache``
    on Windows)."""
    import platformdirs

    return platformdirs.user_cache_dir("cachekit", appauthor=False)


def _mode(name: str, value: object, required: int, forbidden: int) -> int:
    """A permission option: an int (``0o640``) or, from a URL, a string ``"0o640"``."""
    mode = value
    if isinstance(value, str) and value.lower().startswith("0o"):
        try:
            mode = int(value[2:], 8)
        except ValueError:
            mode = value
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise ConfigurationError(
            f"disk backend: {name} must be permission bits such as 0o{required:o} "
            f"(in a URL: {name}=0o{required:o}), got {value!r}"
        )
    if mode & required != required or mode & forbidden:
        raise ConfigurationError(
            f"disk backend: {name} must include 0o{required:o} (the owner's access) and "
            f"none of 0o{forbidden:o}; got 0o{mode:o}"
        )
    return mode


def _number(name: str, value: object, *, integer: bool = False, positive: bool = False) -> None:
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
        raise ConfigurationError(
            f"disk backend: {name} must be a non-negative number, got {value!r}"
        )
    if positive and value == 0:
        raise ConfigurationError(f"disk backend: {name} must be positive, got {value!r}")


class DiskBackend(AsyncBackend):
    """A persistent cache in a directory: one file per entry, shared safely by every
    process (and thread) that opens the same directory.

    Options (keyword arguments of ``Cache(type="disk", ...)``):

    * ``disk_cache_dir``: the directory (LiteLLM's name); default: the platform's
      user cache directory for ``cachekit`` (:func:`default_cache_dir`). Entries live
      under ``<dir>/disk-v1/``.
    * ``max_size_bytes``: cap on the entry files' total size; the least recently
      used entries are evicted past it. ``None`` (default): unbounded.
    * ``fsync``: ``"none"`` (default: atomic against process crashes; a power loss
      may lose recent writes, which then read as misses), ``"file"`` (data synced
      before it becomes visible) or ``"full"`` (also the directory: the entry
      survives a power loss once ``set`` returns).
    * ``default_ttl``: lifetime in seconds when nothing else sets one.
    * ``lru_resolution``: a hit refreshes its entry's recency at most once per this
      many seconds (default 1.0), to keep hot reads from writing inode updates.
    * ``prune_interval``: seconds between background :meth:`prune` sweeps
      (default ``None``: only on request).
    * ``clock``: wall-clock ``() -> float`` used for expiry (tests inject one; the
      expiry is stored as a wall-clock time so that other processes honour it).
    * ``file_mode`` / ``dir_mode``: permissions of the files and directories the
      backend creates, set exactly whatever the umask (default ``0o600`` /
      ``0o700``: prompts and answers can hold personal data, so owner only). Widen
      them for a cache shared by a group, e.g. ``file_mode=0o640, dir_mode=0o750``.
    """

    inline: ClassVar[bool] = False
    # Expired files stay on disk until read, pruned or evicted: tools should sweep.
    native_ttl: ClassVar[bool] = False
    #: Processes that open the same directory share its entries (and shared counters).
    shared = True

    def __init__(
        self,
        *,
        disk_cache_dir: str | os.PathLike[str] | None = None,
        max_size_bytes: int | None = None,
        fsync: FsyncPolicy = "none",
        default_ttl: float | None = None,
        lru_resolution: float = 1.0,
        prune_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        file_mode: int = 0o600,
        dir_mode: int = 0o700,
    ) -> None:
        if disk_cache_dir is None:
            directory = default_cache_dir()
        elif isinstance(disk_cache_dir, str | os.PathLike):
            directory = os.fspath(disk_cache_dir)
            if not directory:
                raise ConfigurationError("disk backend: disk_cache_dir must not be empty")
        else:
            raise ConfigurationError(
                f"disk backend: disk_cache_dir must be a path, got {disk_cache_dir!r}"
            )
        if max_size_bytes is not None:
            _number("max_size_bytes", max_size_bytes, integer=True, positive=True)
        if fsync not in get_args(FsyncPolicy):
            raise ConfigurationError(
                f"disk backend: fsync must be one of {', '.join(get_args(FsyncPolicy))}; "
                f"got {fsync!r}"
            )
        if default_ttl is not None:
            _number("default_ttl", default_ttl, positive=True)
        _number("lru_resolution", lru_resolution)
        if prune_interval is not None:
            _number("prune_interval", prune_interval, positive=True)
        if not callable(clock):
            raise ConfigurationError(f"disk backend: clock must be callable, got {clock!r}")
        self.file_mode = _mode("file_mode", file_mode, 0o600, 0o111)
        self.dir_mode = _mode("dir_mode", dir_mode, 0o700, 0)
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.default_ttl = None if default_ttl is None else float(default_ttl)
        self.max_size_bytes = max_size_bytes
        self._clock = clock
        self._prune_interval = prune_interval
        self._store = DiskStore(
            self.directory,
            clock=clock,
            fsync=fsync,
            max_size_bytes=max_size_bytes,
            lru_resolution=float(lru_resolution),
            file_mode=self.file_mode,
            dir_mode=self.dir_mode,
        )
        self._hop: ThreadHop | None = None
        self._background: _Background | None = None
        self._guard = threading.Lock()
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"DiskBackend(disk_cache_dir={self.directory!r})"

    # -- the thread hop -------------------------------------------------------
    def _pool(self) -> ThreadHop:
        hop = self._hop
        if hop is None:
            with self._guard:
                hop = self._hop
                if hop is None:
                    hop = self._hop = ThreadHop(IO_THREADS, "cachekit-disk")
        return hop

    def _forget_threads(self) -> None:
        """In a forked child: the parent's threads did not come along."""
        self._guard = threading.Lock()
        self._hop = None
        self._background = None

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        if self._prune_interval is not None and self._background is None:
            self._background_thread()
        try:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not asyncio (trio): anyio's portable hop
                return await anyio.to_thread.run_sync(partial(func, *args), abandon_on_cancel=True)
            return await self._pool().run(loop, func, *args)
        except OSError as exc:
            raise _map_os_error(exc) from exc

    def _after_write(self, over_cap: bool) -> None:
        """Wake the background thread for an eviction, or for its periodic look for
        writers that died (the first one right after this store's first write)."""
        reap = self._store.owners.due()
        if over_cap or reap:
            self._background_thread().wake(evict=over_cap, reap=reap)

    def _background_thread(self) -> _Background:
        bg = self._background
        if bg is None or not bg.is_alive():
            with self._guard:
                bg = self._background
                if bg is None or not bg.is_alive():
                    bg = self._background = _Background(self._store, self._prune_interval)
                    bg.start()
        return bg

    # -- AsyncBackend --------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        return await self._run(self._store.get, key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return await self._run(self._store.get_many, list(keys))

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._after_write(await self._run(self._store.set, key, bytes(value), ttl))

    async def set_many(self, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        if not mapping:
            return
        items = [(key, bytes(value)) for key, value in mapping.items()]
        self._after_write(await self._run(self._store.set_many, items, ttl))

    async def delete(self, key: str) -> bool:
        deleted = await self._run(self._store.delete, key)
        self._after_write(False)
        return deleted

    async def clear(self, prefix: str) -> int:
        return await self._run(self._store.clear, prefix)

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        """Keys starting with ``prefix``, read from the entry files' headers one shard
        directory per hop (see ``_scan``); expired entries not yet removed included."""
        for shard in await self._run(shards_for, self._store.layout, prefix):
            for key in await self._run(shard_keys, shard, prefix):
                yield key

    async def usage(self, prefix: str) -> Usage:
        """Live entries under ``prefix`` and their value bytes, from the entry files'
        headers (never their values), one shard directory per hop, like :meth:`scan`."""
        entries = size = 0
        now = self._clock()
        for shard in await self._run(shards_for, self._store.layout, prefix):
            count, nbytes = await self._run(shard_usage, shard, prefix, now)
            entries += count
            size += nbytes
        return Usage(entries, size)

    async def prune(self) -> int:
        """Sweep the directory: remove expired and damaged entries and the temporary
        files and spares of dead writers (which the backend also does on its own,
        see the README), recount the size and evict down to the cap.
        Returns the number of entries removed. Safe while other processes use the
        directory. (The ``cachekit prune`` command calls this.)"""
        return await self._run(self._store.prune)

    async def evict(self) -> int:
        """Evict down to the size cap now (waiting for a running eviction first);
        return the number of entries removed. A no-op without ``max_size_bytes``."""
        return await self._run(partial(self._store.evict, blocking=True))

    async def aclose(self) -> None:
        """Stop the background thread (letting a running eviction finish) and the
        worker threads. Idempotent; the backend may be used again afterwards."""
        with self._guard:
            bg, self._background = self._background, None
            pool, self._hop = self._hop, None
        if bg is not None:
            bg.stop()
            await anyio.to_thread.run_sync(bg.join)
        if pool is not None:
            pool.shutdown()
        await anyio.to_thread.run_sync(self._store.close)


_LIVE: weakref.WeakSet[DiskBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_LIVE):
        backend._forget_threads()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Background(threading.Thread):
    """Evicts when a write went over the cap, removes dead writers' files when a
    write finds it is time to look, prunes every ``interval`` seconds."""

    def __init__(self, store: DiskStore, interval: float | None) -> None:
        super().__init__(name="cachekit-disk-background", daemon=True)
        self._store = store
        self._interval = interval
        self._event = threading.Event()
        self._evict = False
        self._reap = False
        self._stopping = False
        self._next_prune = None if interval is None else time.monotonic() + interval

    def wake(self, *, evict: bool, reap: bool = False) -> None:
        if evict:
            self._evict = True
        if reap:
            self._reap = True
        self._event.set()

    def stop(self) -> None:
        self._stopping = True
        self._event.set()

    def run(self) -> None:
        while True:
            timeout = None
            if self._next_prune is not None:
                timeout = max(0.0, self._next_prune - time.monotonic())
            self._event.wait(timeout)
            self._event.clear()
            if self._evict:  # even when stopping: a write asked for it
                self._evict = False
                # Blocking: if another process is evicting, wait for it, then evict
                # again only if its pass did not cover our writes.
                self._guarded(partial(self._store.evict, blocking=True))
            if self._reap:  # even when stopping: quick unless a writer died
                self._reap = False
                self._guarded(self._store.reap)
            if self._stopping:
                return
            if self._next_prune is not None and time.monotonic() >= self._next_prune:
                self._guarded(self._store.prune)
                self._next_prune = time.monotonic() + (self._interval or 0.0)

    @staticmethod
    def _guarded(sweep: Callable[[], object]) -> None:
        try:
            sweep()
        except Exception:  # keep going; the next write or interval retries
            logger.warning("cachekit-disk: background sweep failed", exc_info=True)


def _map_os_error(exc: OSError) -> BackendError:
    """File errors → cachekit's hierarchy: a directory we may not use (permissions, a
    read-only or full filesystem, a missing mount) makes the backend unavailable."""
    import errno

    text = f"disk backend: {type(exc).__name__}: {exc.strerror or exc}"
    unavailable = {errno.EROFS, errno.ENOSPC, errno.EIO, errno.ENOTDIR}
    unavailable.add(getattr(errno, "EDQUOT", errno.ENOSPC))
    if isinstance(exc, PermissionError) or exc.errno in unavailable:
        return BackendUnavailableError(text)
    return BackendError(text)
