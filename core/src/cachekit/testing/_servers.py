"""Real server processes for tests and benchmarks: a free loopback port, a process.

Backend tests talk to real servers (``redis-server``, moto's S3, ...) that the
test set-up starts on a free ``127.0.0.1`` port and stops at the end. The parts
every such helper needs live here, once::

    from cachekit.testing import ServerProcess

    server = ServerProcess(lambda s: ["redis-server", "--port", str(s.port), "--save", ""])
    with server:                  # start, wait until it accepts TCP connections
        ...
        server.kill()             # SIGKILL: an outage
        server.start()            # back on the same port
        server.pause(); server.resume()   # SIGSTOP/SIGCONT: a hung server

A server runs in a temporary directory of its own (removed by :meth:`close`), its
stdout and stderr go to a log file there, and the last lines of that log are in
the error when it fails to start. Servers still running at interpreter exit are
killed. :func:`modules_imported_by` runs code in a fresh interpreter, to check what
an import costs.

Standard library only, and no pytest: benchmarks use these helpers too. The helpers
are synchronous (call them from fixtures, not from a running event loop).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["HOST", "ServerProcess", "free_port", "modules_imported_by"]

HOST = "127.0.0.1"

#: Every server object alive: at exit, each is killed and its directory removed.
_servers: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_servers):
        server.kill()
        server.close()


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` (loopback by default) that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def modules_imported_by(code: str, *, env: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every module a fresh interpreter (this one's executable) has imported after
    running ``code``, with plugin autoloading on: what a user's process pays for."""
    environ = dict(os.environ if env is None else env)
    environ.pop("CACHEKIT_DISABLE_PLUGIN_AUTOLOAD", None)
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the fresh interpreter failed:\n{done.stderr[-2000:]}")
    names: list[str] = json.loads(done.stdout.splitlines()[-1])
    return frozenset(names)


Argv = Sequence[str] | Callable[["ServerProcess"], Sequence[str]]


class ServerProcess:
    """One server process listening on ``host:port`` (see the module docstring).

    ``argv`` is the command line, or a callable building it from this object (it
    needs :attr:`port` and :attr:`directory`); subclasses may override :meth:`args`
    instead. ``port`` defaults to a free port chosen once, so :meth:`start` after
    :meth:`kill` or :meth:`stop` brings the server back where clients expect it.
    The server counts as started when ``ready(server)`` returns true (exceptions
    count as not yet), by default when its port accepts a TCP connection; override
    :meth:`is_ready` in a subclass for the same.
    """

    def __init__(
        self,
        argv: Argv | None = None,
        *,
        port: int | None = None,
        host: str = HOST,
        ready: Callable[[ServerProcess], bool] | None = None,
        directory: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        name: str = "server",
        startup_timeout: float = 15.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = free_port(host) if port is None else port
        self.name = name
        self.env = None if env is None else dict(env)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._argv = argv
        self._ready = ready
        self._own_dir = directory is None
        self.directory = Path(
            tempfile.mkdtemp(prefix=f"cachekit-{name}-") if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        #: stdout and stderr of the process (appended to across restarts).
        self.log_path = self.directory / f"{name}-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        _servers.add(self)

    # -- what to run ---------------------------------------------------------------
    def args(self) -> list[str]:
        """The command line to start (``argv``, built now if it is a callable)."""
        argv = self._argv
        if argv is None:
            raise NotImplementedError("pass argv or override args()")
        return [str(a) for a in (argv(self) if callable(argv) else argv)]

    def is_ready(self) -> bool:
        """Whether the started process serves: ``ready(self)``, or a TCP connect."""
        if self._ready is not None:
            return bool(self._ready(self))
        with socket.create_connection((self.host, self.port), timeout=1.0):
            return True

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Self:
        """Start the server (again, on the same port) and wait until it is ready."""
        if self.running:
            return self
        argv = self.args()
        self._close_log()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            env=self.env,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            process = self._process
            if process is not None and process.poll() is not None:
                code = process.returncode
                self._reap(0)
                raise RuntimeError(
                    f"{self.name} on port {self.port} exited with status {code}:\n{self.log_tail()}"
                )
            try:
                if self.is_ready():
                    return
            except Exception as exc:  # not serving yet: connection refused, reset...
                last = exc
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"{self.name} on port {self.port} was not ready within "
            f"{self.startup_timeout:g} s ({last}):\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the server's log (for error messages)."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def _signal(self, signum: int) -> None:
        if self.running:
            assert self._process is not None
            self._process.send_signal(signum)

    def stop(self) -> None:
        """Shut the server down (SIGTERM; SIGKILL if it lingers)."""
        self.resume()
        self._signal(signal.SIGTERM)
        self._reap(self.stop_timeout)

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-run, as in a crash."""
        self._signal(signal.SIGKILL)
        self._reap(self.stop_timeout)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel but nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal(signal.SIGCONT)

    def _reap(self, timeout: float) -> None:
        process = self._process
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_log()

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def close(self) -> None:
        """Stop the server and remove its temporary directory (if it made one)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name} {self.address} {state}>"
