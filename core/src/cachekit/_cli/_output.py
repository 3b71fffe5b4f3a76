"""Output helpers of the ``cachekit`` command: exit codes, one-line errors, tables,
progress on a terminal, and URLs with their credentials masked.

Conventions: results go to stdout (a table or text for humans, one JSON document
with ``--json``); prompts, progress and errors go to stderr, so ``--json`` output
can always be piped into a parser.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_MISS",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "Output",
    "Progress",
    "format_age",
    "format_bytes",
    "format_seconds",
    "one_line",
    "redact_url",
    "table",
]

EXIT_OK = 0
#: The backend failed (unreachable, timed out, returned garbage) or the user declined.
EXIT_ERROR = 1
#: Bad arguments, a bad URL, an unknown backend type, a refused ``clear``.
EXIT_USAGE = 2
#: ``get`` found no (live) entry under the key.
EXIT_MISS = 3
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure the command reports as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def one_line(text: object) -> str:
    """Collapse whitespace (client errors often span lines) into one line."""
    return " ".join(str(text).split())


#: Query parameter names that carry secrets (matched as substrings, case-insensitively).
_SECRET_NAMES = ("pass", "pwd", "secret", "token", "key", "credential", "auth", "signature")


def _secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_NAMES)


def redact_url(url: str) -> str:
    """``url`` for printing: the userinfo password and every credential-like query
    parameter (``password=``, ``api_key=``, ``token=``…) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port is not None else "")
    query = (
        "&".join(
            f"{pair.split('=', 1)[0]}=***"
            if "=" in pair and _secret(pair.split("=", 1)[0])
            else pair
            for pair in parts.query.split("&")
        )
        if parts.query
        else ""
    )
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing secret: as written (urlunsplit would drop an empty "//")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def format_seconds(seconds: float) -> str:
    """A duration a human reads at a glance: ``412 µs``, ``3.41 ms``, ``2.50 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_bytes(size: int) -> str:
    """A size a human reads at a glance: ``512 B``, ``12.3 KB``, ``4.6 MB`` (powers of 1000)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def format_age(seconds: float) -> str:
    """A long duration in the largest two units: ``42.0 s``, ``12 min 3 s``, ``2 d 3 h``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60)):
        if whole >= size:
            return f"{whole // size} {unit} {whole % size // sub_size} {sub}"
    return f"{whole // 60} min {whole % 60} s"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain left-aligned text table (no borders: easy to grep and to read)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


class Output:
    """Writes a command's result either for humans or as one JSON document."""

    def __init__(self, *, as_json: bool, stdout: TextIO | None = None) -> None:
        self.as_json = as_json
        self._stdout = stdout

    @property
    def stdout(self) -> TextIO:
        return self._stdout if self._stdout is not None else sys.stdout

    def result(self, doc: dict[str, Any], human: Callable[[], str]) -> None:
        """Print ``doc`` as JSON, or the text ``human()`` renders from it."""
        if self.as_json:
            self.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
        else:
            self.stdout.write(human().rstrip("\n") + "\n")
        self.stdout.flush()


class Progress:
    """One self-rewriting status line on stderr, only when stderr is a terminal.

    Updates are throttled to ten a second so a tight loop can call :meth:`show`
    freely; :meth:`done` erases the line so the result prints on a clean screen.
    """

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.1) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self._stream)
        self._interval = interval
        self._last = 0.0
        self._width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        self._stream.write(f"\r{text}{padding}")
        self._stream.flush()

    def done(self) -> None:
        if self.enabled and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False
