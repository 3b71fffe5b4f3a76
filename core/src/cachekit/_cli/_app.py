"""The ``cachekit`` command: inspect plugins and operate on any cache backend.

::

    cachekit backends                          # installed backend types, failed plugins
    cachekit demo                              # a miss then a hit, with timings
    cachekit --url redis://localhost:6379/0 stats
    cachekit --url disk:///var/cache/llm get KEY | delete KEY
    cachekit --url redis://… clear --namespace team-a [--yes]
    cachekit --url redis://… bench --concurrency 32
    cachekit --url redis://… rekey --to NEW --from OLD   # or $CACHEKIT_ENCRYPTION_KEY…

``--url`` falls back to ``$CACHEKIT_URL``; ``--json`` prints one JSON document on
stdout. Errors are one line on stderr. Exit codes: 0 success, 1 backend failure
or declined, 2 usage (bad arguments, URL or backend type; ``clear`` without
confirmation), 3 ``get`` miss, 130 interrupted. The commands live in private
``_cli_*`` modules; this one parses arguments and turns failures into exit codes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from cachekit._cli._output import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    Output,
    one_line,
)
from cachekit._cli._rekey import add_rekey_arguments
from cachekit.exceptions import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
    ConfigurationError,
)

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace, Output], int]

URL_ENV = "CACHEKIT_URL"  # also cachekit._cli._store.URL_ENV


def _lazy(module: str, name: str) -> Command:
    """A command whose module is imported only when it runs: ``cachekit backends``
    does not pay for bench's or the store commands' imports."""

    def run(args: argparse.Namespace, out: Output) -> int:
        command: Command = getattr(import_module(module), name)
        return command(args, out)

    run.__name__ = name
    return run


run_backends = _lazy("cachekit._cli._backends", "run_backends")
run_bench = _lazy("cachekit._cli._bench", "run_bench")
run_demo = _lazy("cachekit._cli._demo", "run_demo")
run_rekey = _lazy("cachekit._cli._rekey", "run_rekey")
run_stats = _lazy("cachekit._cli._store", "run_stats")
run_get = _lazy("cachekit._cli._store", "run_get")
run_delete = _lazy("cachekit._cli._store", "run_delete")
run_clear = _lazy("cachekit._cli._store", "run_clear")


class _Version(argparse.Action):
    """``--version``: the version, and plainly, the other ``cachekit`` when it is here."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from cachekit import __version__
        from cachekit._kernel._manager import foreign_cachekit, foreign_cachekit_advice

        lines = [f"cachekit {__version__}"]
        foreign = foreign_cachekit()
        if foreign is not None:
            lines.append(f"warning: {foreign_cachekit_advice(foreign)}")
        sys.stdout.write("\n".join(lines) + "\n")
        parser.exit(0)


_EPILOG = f"""\
backend URLs: redis://[:password@]host:port/db, rediss://…, s3://bucket/prefix?endpoint_url=…,
disk:///path/to/dir, local:// (this process only), or <type>://… for any installed plugin;
?namespace=N&timeout=S set the namespace and the per-operation timeout.
--url defaults to ${URL_ENV}.

exit codes: 0 ok, 1 backend failure or declined, 2 usage error, 3 get: no entry,
130 interrupted."""


def _common(*, store: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the command (``SUPPRESS`` keeps a value given
    before the command from being reset by the command's own parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout",
    )
    parent.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and plugin warnings in full",
    )
    if store:
        parent.add_argument(
            "--url", default=argparse.SUPPRESS, help=f"the cache backend (default: ${URL_ENV})"
        )
        parent.add_argument(
            "--namespace",
            default=argparse.SUPPRESS,
            help="namespace to operate on (default: the URL's, else 'default')",
        )
        parent.add_argument(
            "--timeout",
            type=_timeout,
            default=argparse.SUPPRESS,
            help="bound of one backend operation in seconds, > 0 ('none': no bound)",
        )
    return parent


def _timeout(text: str) -> float | None:
    """``--timeout``: seconds > 0 as ``Cache(timeout=)`` takes them, or ``none``."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (seconds > 0) or seconds == float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds > 0, or 'none' for no bound (got {text!r})"
        )
    return seconds


def build_parser() -> argparse.ArgumentParser:
    store = _common(store=True)
    plain = _common(store=False)
    parser = argparse.ArgumentParser(
        prog="cachekit",
        description="Inspect cachekit's plugins and operate on a cache backend.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[store],
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, run: Command, help: str, parent: argparse.ArgumentParser
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[parent])
        sub.set_defaults(run=run)
        return sub

    add("backends", run_backends, "list installed backend types and plugins that failed", plain)
    demo = add(
        "demo", run_demo, "a simulated provider call through a local cache: miss, then hit", plain
    )
    demo.add_argument(
        "--latency",
        type=float,
        default=0.8,
        help="simulated provider latency in seconds (default 0.8)",
    )
    add("stats", run_stats, "what the backend can tell: reachability, entry count, counters", store)
    get = add("get", run_get, "print the entry stored under KEY (exit 3 when there is none)", store)
    get.add_argument(
        "key",
        metavar="KEY",
        help="a key of the namespace, or a full key (cachekit:v2:…) as get_cache_key returns",
    )
    delete = add("delete", run_delete, "remove the entry stored under KEY", store)
    delete.add_argument("key", metavar="KEY", help="a key of the namespace, or a full key")
    clear = add("clear", run_clear, "remove every entry of one namespace", store)
    clear.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="do not ask for confirmation (needed when stdin is not a terminal)",
    )
    bench = add("bench", run_bench, "measure get/set latency and throughput", store)
    bench.add_argument("--ops", type=int, default=2000, help="operations per phase (default 2000)")
    bench.add_argument(
        "--concurrency", "-c", type=int, default=16, help="concurrent tasks (default 16)"
    )
    bench.add_argument(
        "--value-size",
        type=int,
        default=1024,
        help="approximate value size in bytes (default 1024)",
    )
    rekey = add("rekey", run_rekey, "re-encrypt every entry of a namespace under a new key", store)
    add_rekey_arguments(rekey)
    return parser


class _OneLine(logging.Formatter):
    """Log records as one line without traceback: the CLI reports, it does not dump."""

    def format(self, record: logging.LogRecord) -> str:
        return f"cachekit: {record.levelname.lower()}: {one_line(record.getMessage())}"


def _setup_logging(debug: bool) -> Callable[[], None]:
    """Route cachekit's log records to stderr; return a function that undoes it."""
    handler = logging.StreamHandler(sys.stderr)
    if debug:
        handler.setFormatter(logging.Formatter("cachekit: %(levelname)s: %(message)s"))
    else:
        handler.setFormatter(_OneLine())
    logger = logging.getLogger("cachekit")
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]

    return restore


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups from task groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, ConfigurationError):
        return one_line(exc), EXIT_USAGE
    if isinstance(exc, BackendUnavailableError):
        return f"backend unavailable: {one_line(exc)}", EXIT_ERROR
    if isinstance(exc, BackendTimeoutError):
        return f"backend timed out: {one_line(exc)} (raise it with --timeout)", EXIT_ERROR
    if isinstance(exc, BackendError):
        return f"backend error: {one_line(exc)}", EXIT_ERROR
    if isinstance(exc, CacheKitError):
        return one_line(exc), EXIT_ERROR
    return (
        f"unexpected {type(exc).__name__}: {one_line(exc)} (run with --debug for the traceback)",
        EXIT_ERROR,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cachekit`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False)) or bool(os.environ.get("CACHEKIT_DEBUG"))
    restore_logging = _setup_logging(debug)
    try:
        return _run(args, debug)
    finally:
        restore_logging()


def _run(args: argparse.Namespace, debug: bool) -> int:
    out = Output(as_json=bool(getattr(args, "json", False)))
    run: Command = args.run
    try:
        return run(args, out)
    except KeyboardInterrupt:
        sys.stderr.write("\ncachekit: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `cachekit … | head`: the reader left, which is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except BaseException as exc:
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        leaf = _leaf(exc)
        if isinstance(leaf, KeyboardInterrupt):
            sys.stderr.write("\ncachekit: interrupted\n")
            return EXIT_INTERRUPTED
        if debug and not isinstance(leaf, CliError):
            raise
        message, code = _describe(leaf)
        if code == EXIT_INTERRUPTED:
            sys.stderr.write(f"\ncachekit: {message}\n")
        else:
            sys.stderr.write(f"cachekit: error: {message}\n")
        return code


if __name__ == "__main__":
    sys.exit(main())
