"""``cachekit rekey``: re-encrypt every entry of a namespace under a new key, in place.

::

    CACHEKIT_ENCRYPTION_KEY=NEW CACHEKIT_OLD_ENCRYPTION_KEYS=OLD \\
        cachekit --url redis://… rekey [--namespace N] [--plaintext]
    cachekit --url redis://… rekey --to NEW --from OLD [OLDER …]

Keys are base64 text (or come from the environment, which other users of the machine
cannot read in ``ps`` as they can a command line). They are never printed: the
output names keys by their ids (a short hash). Progress goes to stderr on a
terminal; the result (counts) to stdout, as JSON with ``--json``. Interrupting is
safe: what was re-encrypted stays so, and a second run skips it (resumable).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from cachekit._cache import Cache
from cachekit._cli._output import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError, Output, Progress
from cachekit._cli._store import open_cache, run_in_loop
from cachekit._policy._crypto import key_id, parse_key
from cachekit._rekey import RekeyReport
from cachekit.exceptions import ConfigurationError

__all__ = ["NEW_KEY_ENV", "OLD_KEYS_ENV", "add_rekey_arguments", "run_rekey"]

NEW_KEY_ENV = "CACHEKIT_ENCRYPTION_KEY"
OLD_KEYS_ENV = "CACHEKIT_OLD_ENCRYPTION_KEYS"


def add_rekey_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--to",
        metavar="KEY",
        help=f"the new key, base64 (default: ${NEW_KEY_ENV}; the environment keeps it out of ps)",
    )
    parser.add_argument(
        "--from",
        dest="old",
        metavar="KEY",
        nargs="+",
        action="extend",
        help=f"the key(s) being retired, base64 (default: ${OLD_KEYS_ENV}, comma-separated)",
    )
    parser.add_argument(
        "--plaintext",
        action="store_true",
        help="also encrypt entries stored without encryption (migrating a cache to encryption)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=100,
        help="entries read and written back per step (default 100)",
    )


def _keys(args: argparse.Namespace) -> tuple[bytes, list[bytes]]:
    """The new key and the old ones, from the options or the environment."""
    new_text = args.to if args.to is not None else os.environ.get(NEW_KEY_ENV)
    if not new_text:
        raise CliError(f"no new key: pass --to KEY or set ${NEW_KEY_ENV}", EXIT_USAGE)
    if args.old is not None:
        old_texts, source = list(args.old), "--from"
    else:
        env = os.environ.get(OLD_KEYS_ENV, "")
        old_texts, source = [t for t in env.replace(",", " ").split() if t], f"${OLD_KEYS_ENV}"
    if not old_texts and not args.plaintext:
        raise CliError(
            f"nothing to rekey from: pass --from OLD (or set ${OLD_KEYS_ENV}), "
            "or --plaintext to encrypt entries stored without encryption",
            EXIT_USAGE,
        )
    try:
        new = parse_key(new_text, "--to" if args.to is not None else f"${NEW_KEY_ENV}")
        old = [parse_key(text, f"{source} key #{i + 1}") for i, text in enumerate(old_texts)]
    except ConfigurationError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, got {args.batch_size}", EXIT_USAGE)
    return new, old


def run_rekey(args: argparse.Namespace, out: Output) -> int:
    new, old = _keys(args)
    plain, where = open_cache(args, long_running=True)  # validates the URL; no I/O yet
    options: dict[str, Any] = {
        **plain._options,
        "encryption_key": new,
        "allow_plaintext_reads": bool(args.plaintext),
    }
    cache = Cache(**options)
    progress = Progress()

    def show(report: RekeyReport) -> None:
        progress.show(
            f"rekeying namespace {report.namespace!r}: {report.scanned} scanned, "
            f"{report.rekeyed + report.encrypted} re-encrypted, {report.current} current "
            f"({report.elapsed_s:.1f} s)"
        )

    async def work() -> RekeyReport:
        await plain.aclose()
        return await cache.arekey(old_keys=old, progress=show, batch_size=args.batch_size)

    start = time.monotonic()
    try:
        report = run_in_loop(cache, work)
    except KeyboardInterrupt:
        raise CliError(
            "interrupted; entries re-encrypted so far stay so, and running the same "
            "command again resumes (it skips them)",
            EXIT_INTERRUPTED,
        ) from None
    finally:
        progress.done()
    elapsed = time.monotonic() - start
    old_ids = [key_id(k).hex() for k in old]
    doc: dict[str, Any] = {
        "url": where,
        "backend": cache.type,
        **report.as_dict(),
        "old_key_ids": old_ids,
        "plaintext": bool(args.plaintext),
        "entries_per_s": (report.rekeyed + report.encrypted) / elapsed if elapsed > 0 else None,
    }

    def human() -> str:
        lines = [
            f"rekeyed namespace {report.namespace!r} of {where} to key id {report.key_id} "
            f"(from {', '.join(old_ids) or 'plaintext'}) in {report.elapsed_s:.1f} s",
            f"  re-encrypted {report.rekeyed}, encrypted from plaintext {report.encrypted}, "
            f"already current {report.current}, scanned {report.scanned}",
        ]
        if report.gone or report.changed:
            lines.append(
                f"  skipped {report.gone} expired or removed and {report.changed} "
                "rewritten by another writer meanwhile"
            )
        if report.unreadable:
            lines.append(
                f"  left {report.unreadable} entries that none of the given keys opens "
                "(they read as misses; pass their key with --from, or --plaintext)"
            )
        return "\n".join(lines)

    out.result(doc, human)
    return EXIT_OK
