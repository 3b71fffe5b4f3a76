"""``cachekit stats | get | delete | clear``: operate on the backend named by a URL.

Every command builds one ``Cache`` from ``--url`` (or ``CACHEKIT_URL``), runs its
async work through ``anyio.run`` and closes the cache. Backend failures surface as
:class:`cachekit.BackendError` and become one line on stderr (see ``_cli.main``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from cachekit._cache import Cache
from cachekit._cli._output import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_MISS,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Output,
    Progress,
    format_age,
    redact_url,
)
from cachekit._cli._stats import gather_stats, namespace_rows, render_stats
from cachekit._kernel._manager import get_plugin_manager
from cachekit._kernel._registry import backend_registry
from cachekit._kernel._urls import options_from_url
from cachekit._policy._envelope import Entry, decode_entry
from cachekit._policy._keys import KEY_PREFIX, storage_key
from cachekit.exceptions import EntryError

__all__ = ["open_cache", "run_clear", "run_delete", "run_get", "run_in_loop", "run_stats"]

T = TypeVar("T")

URL_ENV = "CACHEKIT_URL"
_URL_EXAMPLES = "redis://localhost:6379/0, disk:///var/cache/llm or local://"


def open_cache(args: argparse.Namespace, *, long_running: bool = False) -> tuple[Cache, str]:
    """The cache the arguments name, and its URL with credentials masked.

    ``long_running`` work (``clear``) gets no per-operation timeout unless the URL
    or ``--timeout`` sets one: clearing a large namespace can take a while, and
    Ctrl-C stops it.
    """
    url = getattr(args, "url", None) or os.environ.get(URL_ENV)
    if not url:
        raise CliError(
            f"no backend given: pass --url URL or set {URL_ENV} (for example {_URL_EXAMPLES})",
            EXIT_USAGE,
        )
    options = options_from_url(url, get_plugin_manager())
    namespace = getattr(args, "namespace", None)
    if namespace is not None:
        options["namespace"] = namespace
    if hasattr(args, "timeout"):
        options["timeout"] = args.timeout  # seconds > 0, or None: no bound
    elif long_running and "timeout" not in options:
        options["timeout"] = None
    return Cache(**options), redact_url(url)


def run_in_loop(cache: Cache, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work()`` on a fresh event loop, then close ``cache`` whatever happened."""

    async def main() -> T:
        try:
            return await work()
        finally:
            # Shielded and bounded; a failing close must not hide the command's result.
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(5),
                contextlib.suppress(Exception),
            ):
                await cache.aclose()

    return anyio.run(main)


# -- get / delete --------------------------------------------------------------------
async def _read_entry(cache: Cache, key: str) -> tuple[str, Entry | None]:
    skey = storage_key(key, cache.namespace)
    raw = await cache._engine.fetch(skey)
    if raw is None:
        return skey, None
    try:
        return skey, decode_entry(cache._engine.unseal(skey, raw))
    except EntryError as exc:
        raise CliError(
            f"{skey} holds bytes that are not a cachekit entry ({exc}); "
            "`cachekit delete` removes it"
        ) from None


def _key_namespace(args: argparse.Namespace) -> None:
    """A full key names its namespace: open the cache there (``--namespace`` must agree)."""
    key = args.key
    if not key.startswith(KEY_PREFIX):
        return
    namespace = key[len(KEY_PREFIX) :].split(":", 1)[0]
    given = getattr(args, "namespace", None)
    if given is not None and given != namespace:
        raise CliError(
            f"the key belongs to namespace {namespace!r}, not --namespace {given!r}", EXIT_USAGE
        )
    args.namespace = namespace


def run_get(args: argparse.Namespace, out: Output) -> int:
    _key_namespace(args)
    cache, _ = open_cache(args)
    skey, entry = run_in_loop(cache, lambda: _read_entry(cache, args.key))
    now = time.time()
    doc: dict[str, Any] = {"key": skey, "namespace": cache._engine.namespace_of(skey), "hit": False}
    if entry is not None and entry.expired(now):
        expired_ago = now - (entry.expires_at or now)
        doc.update(expired=True, expired_s_ago=expired_ago)
        out.result(doc, lambda: f"miss: {skey} expired {format_age(expired_ago)} ago")
        return EXIT_MISS
    if entry is None:
        out.result(doc, lambda: f"miss: no entry under {skey}")
        return EXIT_MISS
    expires_in = None if entry.expires_at is None else entry.expires_at - now
    doc.update(
        hit=True,
        call_type=entry.call_type,
        created_at=entry.created_at,
        age_s=now - entry.created_at,
        expires_at=entry.expires_at,
        expires_in_s=expires_in,
        meta=entry.meta,
        value=entry.value,
    )
    out.result(doc, lambda: _render_entry(doc, entry))
    return EXIT_OK


def _render_entry(doc: dict[str, Any], entry: Entry) -> str:
    created = dt.datetime.fromtimestamp(entry.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    expires = "never" if doc["expires_in_s"] is None else f"in {format_age(doc['expires_in_s'])}"
    rows: list[tuple[str, object]] = [
        ("key", doc["key"]),
        ("call type", entry.call_type),
        ("created", f"{created} ({format_age(doc['age_s'])} ago)"),
        ("expires", expires),
    ]
    if entry.meta:
        rows.append(("meta", _json(entry.meta, indent=None)))
    head = "\n".join(f"{name:<10} {value}" for name, value in rows)
    value = entry.value if isinstance(entry.value, str) else _json(entry.value, indent=2)
    return f"{head}\nvalue:\n{value}"


def _json(value: Any, *, indent: int | None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def run_delete(args: argparse.Namespace, out: Output) -> int:
    _key_namespace(args)
    cache, _ = open_cache(args)
    skey = storage_key(args.key, cache.namespace)
    deleted = run_in_loop(cache, lambda: cache.adelete(skey))
    doc = {"key": skey, "deleted": deleted}
    out.result(
        doc, lambda: f"deleted {skey}" if deleted else f"not found: {skey} (nothing deleted)"
    )
    return EXIT_OK


# -- clear ---------------------------------------------------------------------------
def _confirm(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:  # end of input
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def run_clear(args: argparse.Namespace, out: Output) -> int:
    cache, where = open_cache(args, long_running=True)
    namespace = cache.namespace
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(
                f"refusing to clear namespace {namespace!r} of {where} without confirmation: "
                "stdin is not a terminal; pass --yes",
                EXIT_USAGE,
            )
        if not _confirm(f"Remove every entry in namespace {namespace!r} of {where}?"):
            raise CliError("aborted; nothing was removed", EXIT_ERROR)
    progress = Progress()

    async def work() -> int:
        start = time.monotonic()
        removed = 0
        async with anyio.create_task_group() as tg:

            async def tick() -> None:
                while True:
                    progress.show(
                        f"clearing namespace {namespace!r}… {time.monotonic() - start:.1f} s",
                        force=True,
                    )
                    await anyio.sleep(0.2)

            if progress.enabled:
                tg.start_soon(tick)
            removed = await cache.aclear()
            tg.cancel_scope.cancel()
        return removed

    try:
        removed = run_in_loop(cache, work)
    except KeyboardInterrupt:
        raise CliError(
            "interrupted; entries removed before the interrupt stay removed", EXIT_INTERRUPTED
        ) from None
    finally:
        progress.done()
    doc = {"url": where, "namespace": namespace, "removed": removed}
    out.result(doc, lambda: f"removed {removed} entries from namespace {namespace!r} of {where}")
    return EXIT_OK


# -- stats ---------------------------------------------------------------------------
def run_stats(args: argparse.Namespace, out: Output) -> int:
    """Reachability, every process's shared counters and the usage per namespace
    (see :mod:`cachekit._cli._stats`). ``--namespace`` (or the URL's) narrows the
    counters to caches of that namespace; without one, every namespace is shown."""
    cache, where = open_cache(args, long_running=True)
    only = cache.namespace if cache._options.get("namespace") is not None else None
    info = backend_registry(cache.plugins).get(cache.type)
    report = run_in_loop(cache, lambda: gather_stats(cache, only))
    own = report.usage.get(cache.namespace)
    counters: dict[str, Any] = {"shared": report.totals is not None, "note": report.counters_note}
    if report.totals is not None:
        counters.update(report.totals.as_dict())
    doc: dict[str, Any] = {
        "url": where,
        "backend": cache.type,
        "distribution": info.distribution if info else None,
        "version": info.version if info else None,
        "namespace": cache.namespace,
        "scope": "all namespaces" if only is None else f"namespace {only!r}",
        "reachable": True,
        "probe_s": report.probe_s,
        "entries": None if own is None else own.entries,
        "bytes": None if own is None else own.bytes,
        "entries_note": report.usage_note or (own.note if own is not None else ""),
        "counters": counters,
        "namespaces": namespace_rows(report),
    }
    out.result(doc, lambda: render_stats(doc))
    return EXIT_OK
