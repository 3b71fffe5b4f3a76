"""``cachekit.testing``'s server helpers on a real process (Python's own HTTP server),
and the promise that they import without pytest (the benchmark venv has none)."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cachekit.testing import HOST, ServerProcess, free_port, modules_imported_by


def http_server() -> ServerProcess:
    return ServerProcess(
        lambda s: [sys.executable, "-m", "http.server", str(s.port), "--bind", s.host],
        name="http",
    )


def answers(server: ServerProcess) -> bool:
    with urllib.request.urlopen(f"http://{server.address}/", timeout=5) as response:
        return bool(response.status == 200)


def refuses(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def process_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` (``T``: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_for_state(pid: int, wanted: set[str]) -> str:
    deadline = time.monotonic() + 10
    state = process_state(pid)
    while state not in wanted and time.monotonic() < deadline:
        time.sleep(0.01)  # signal delivery is asynchronous: poll, do not pass time
        state = process_state(pid)
    return state


def test_free_port_is_free() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert refuses(port)


def test_start_kill_restart_on_the_same_port_and_cleanup() -> None:
    server = http_server()
    directory = server.directory
    with server:
        assert server.running
        assert answers(server)
        port, first_pid = server.port, server.pid
        server.kill()
        assert not server.running
        assert refuses(port)
        server.start()
        assert server.port == port
        assert server.pid != first_pid
        assert answers(server)
    assert not server.running
    assert not directory.exists()  # its own temporary directory is removed


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_pause_and_resume_stop_and_continue_the_process() -> None:
    with http_server() as server:
        assert server.pid is not None
        server.pause()
        assert wait_for_state(server.pid, {"T", "t"}) in {"T", "t"}
        server.resume()
        assert wait_for_state(server.pid, {"S", "R"}) in {"S", "R"}
        assert answers(server)


def test_a_server_that_exits_reports_its_log_tail() -> None:
    code = "import sys; print('listening failed: boom-marker', flush=True); sys.exit(3)"
    server = ServerProcess([sys.executable, "-c", code], name="broken")
    try:
        with pytest.raises(RuntimeError, match=r"(?s)exited with status 3.*boom-marker"):
            server.start()
        assert not server.running
    finally:
        server.close()


def test_a_readiness_callable_decides_when_the_server_is_up() -> None:
    """Ready only after the server answered twice: start() must wait past the first
    answer (where the default TCP check would have stopped)."""
    answered: list[int] = []

    def ready(server: ServerProcess) -> bool:
        if answers(server):  # raises (not ready yet) until the server listens
            answered.append(server.port)
        return len(answered) >= 2

    server = ServerProcess(
        lambda s: [sys.executable, "-m", "http.server", str(s.port), "--bind", s.host],
        ready=ready,
    )
    with server:
        assert answered == [server.port, server.port]


def test_server_helpers_import_without_pytest() -> None:
    loaded = modules_imported_by(
        "from cachekit.testing import ServerProcess, free_port, modules_imported_by\n"
        "import cachekit_redis.testing, cachekit_s3.testing"
    )
    assert "cachekit.testing._servers" in loaded
    assert "pytest" not in loaded
    assert "_pytest" not in loaded


def test_the_suites_load_on_first_use() -> None:
    loaded = modules_imported_by("from cachekit.testing import SemanticScenarios")
    assert "cachekit.testing._scenarios" in loaded
    assert "pytest" in loaded
