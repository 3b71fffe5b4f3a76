"""The ``cachekit`` command, end to end: each test runs it as a subprocess.

A ``local://`` cache lives inside one process, so these tests show per-process
behaviour (a miss, an empty clear, bench, demo), argument and error handling,
progress on a terminal and Ctrl-C. Cross-process behaviour (set here, read by the
CLI) is in ``test_cli_stores.py`` against real disk and Redis backends.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "cachekit._cli"]


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    env.update(extra or {})
    return env


def cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command with stdin, stdout and stderr on pipes (not a terminal)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, input="", env=_env(env), timeout=120
    )


def cli_json(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, Any]:
    done = cli(*args, "--json", env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("cachekit: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert done.stdout == ""


class Terminal:
    """The command with stdin and stderr on a pseudo-terminal (as in a shell) and
    stdout on a pipe, so tests can answer prompts, watch progress and press Ctrl-C."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [*CLI, *args],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=_env(env),
            # A shell's background jobs may ignore SIGINT; a terminal's foreground does not.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        os.close(slave)
        self.master = master
        self.seen = b""

    def read_until(self, needle: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0, remaining))
            assert ready, f"no {needle!r} on the terminal; saw {self.seen!r}"
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            assert chunk, f"terminal closed before {needle!r}; saw {self.seen!r}"
            self.seen += chunk

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        stdout, _ = self.proc.communicate(timeout=timeout)
        while True:  # drain what is left on the terminal
            ready, _, _ = select.select([self.master], [], [], 0)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        os.close(self.master)
        return self.proc.returncode, stdout.decode(), self.seen.decode(errors="replace")


# -- help and global options ------------------------------------------------------------
def test_help_lists_every_command() -> None:
    done = cli("--help")
    assert done.returncode == 0
    for command in ("backends", "demo", "stats", "get", "delete", "clear", "bench"):
        assert command in done.stdout
    assert "CACHEKIT_URL" in done.stdout


def test_console_script_is_installed() -> None:
    (script,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "cachekit"]
    assert script.value == "cachekit._cli:main"
    exe = Path(sys.executable).with_name("cachekit")
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"cachekit {metadata.version('cachekit-core')}"


def test_json_flag_goes_before_or_after_the_command() -> None:
    for args in (["--json", "backends"], ["backends", "--json"]):
        done = cli(*args)
        assert done.returncode == 0
        assert "local" in [b["name"] for b in json.loads(done.stdout)["backends"]]


def test_usage_error_exits_2() -> None:
    done = cli("get")  # KEY missing
    assert done.returncode == 2
    assert "KEY" in done.stderr


# -- backends --------------------------------------------------------------------------
def test_backends_lists_the_builtin_local_backend_with_its_distribution() -> None:
    code, doc = cli_json("backends")
    assert code == 0
    local = next(b for b in doc["backends"] if b["name"] == "local")
    assert local == {
        "name": "local",
        "distribution": "cachekit-core",
        "version": metadata.version("cachekit-core"),
        "plugin": "cachekit._storage._local",
    }
    human = cli("backends").stdout
    assert "local" in human
    assert "cachekit" in human


def test_backends_lists_entry_point_plugins_and_their_distribution() -> None:
    code, doc = cli_json("backends")
    assert code == 0
    dists = {ep.name: ep.dist for ep in metadata.entry_points(group="cachekit")}
    for backend in doc["backends"]:
        if backend["plugin"].startswith("cachekit._"):  # the core's built-in plugins
            assert backend["distribution"] == "cachekit-core"
            continue
        # Every other type comes from an installed entry point, named with its distribution.
        dist = dists[backend["plugin"]]
        assert dist is not None
        assert (backend["distribution"], backend["version"]) == (dist.name, dist.version)
    listed = {b["name"] for b in doc["backends"]}
    for missing in doc["not_installed"]:
        assert missing["name"] not in listed
        assert missing["install"].startswith("pip install cachekit-")


@pytest.fixture
def broken_plugins(tmp_path: Path) -> dict[str, str]:
    """Two installed distributions whose plugins fail: one cannot be imported, one
    raises from its registration hook. Installed as real dist-info on PYTHONPATH."""
    (tmp_path / "ck_broken_import.py").write_text("raise ImportError('needs libfoo, not found')\n")
    (tmp_path / "ck_broken_hook.py").write_text(
        textwrap.dedent(
            """
            from cachekit import hookimpl

            @hookimpl
            def cachekit_register_backends(register):
                raise RuntimeError("bad credentials file")
            """
        )
    )
    for dist, module in (
        ("ck-broken-import", "ck_broken_import"),
        ("ck-broken-hook", "ck_broken_hook"),
    ):
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[cachekit]\n{module} = {module}\n")
    return {"PYTHONPATH": str(tmp_path)}


def test_backends_reports_plugins_that_failed_and_why(broken_plugins: dict[str, str]) -> None:
    code, doc = cli_json("backends", env=broken_plugins)
    assert code == 0
    failures = {f["plugin"]: f for f in doc["failures"]}
    assert failures["ck_broken_import"]["stage"] == "load"
    assert "needs libfoo" in failures["ck_broken_import"]["error"]
    assert failures["ck_broken_hook"]["stage"] == "cachekit_register_backends"
    assert "bad credentials file" in failures["ck_broken_hook"]["error"]
    assert "local" in [b["name"] for b in doc["backends"]]  # the others still work

    done = cli("backends", env=broken_plugins)
    assert "Traceback" not in done.stderr  # warnings are one line each
    assert (
        "ck_broken_import (load) from ck-broken-import 1.0: ImportError: needs libfoo, not found"
        in done.stdout
    )


def test_unknown_type_names_the_failed_plugins(broken_plugins: dict[str, str]) -> None:
    done = cli("--url", "nosuch://x", "get", "k", env=broken_plugins)
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert "unknown cache type 'nosuch'" in error
    assert "ck_broken_import" in error


# -- errors are one line ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["get", "k"], ["--url", "CACHEKIT_URL"]),
        (["--url", "not-a-url", "get", "k"], ["not a cache URL"]),
        (["--url", "nosuch://x", "stats"], ["unknown cache type 'nosuch'", "local"]),
        (["--url", "local://", "--namespace", "a:b", "get", "k"], ["namespace"]),
        (["--url", "local://?ttl=soon", "get", "k"], ["ttl must be a number", "'soon'"]),
        (["--url", "local://?l1_max_size=x", "get", "k"], ["l1_max_size must be an integer"]),
        (["--url", "local://?max_size=-1", "get", "k"], ["max_size"]),
        (["--url", "local://?no_such_option=1", "get", "k"], ["no_such_option"]),
        (["--url", "local://", "bench", "--concurrency", "0"], ["--concurrency"]),
        (["demo", "--latency", "-1"], ["--latency"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(cli(*args), 2, *needles)


def test_missing_plugin_says_what_to_pip_install() -> None:
    # A hermetic manager (no entry points) has only `local`, as after `pip install cachekit-core`.
    env = {"CACHEKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for url, package in (
        ("redis://127.0.0.1:1/0", "cachekit-redis"),
        ("s3://bucket", "cachekit-s3"),
    ):
        assert_one_line_error(cli("--url", url, "get", "k", env=env), 2, f"pip install {package}")


@pytest.mark.parametrize(
    "url", ["redis://h:notaport/0", "redis://:pw@h:99999/0", "redis+cluster://a:7000,b:zz"]
)
def test_a_bad_port_in_the_url_is_called_a_port(url: str) -> None:
    pytest.importorskip("cachekit_redis")
    done = cli("--url", url, "get", "k")
    assert_one_line_error(done, 2, "the port in url must be an integer TCP port (1-65535)")
    assert ": url must be" not in done.stderr


def test_url_credentials_are_not_echoed() -> None:
    env = {"CACHEKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = cli("--url", "redis://:hunter2@127.0.0.1:1/0", "clear", env=env)
    assert done.returncode == 2
    assert "hunter2" not in done.stderr + done.stdout


# -- get / delete / clear / stats on local -----------------------------------------
def test_get_of_a_missing_key_exits_3() -> None:
    done = cli("--url", "local://", "get", "user-1")
    assert done.returncode == 3
    assert done.stdout.strip() == "miss: no entry under cachekit:v2:default:user-1"
    code, doc = cli_json("--url", "local://", "--namespace", "team-a", "get", "user-1")
    assert code == 3
    assert doc == {"key": "cachekit:v2:team-a:user-1", "namespace": "team-a", "hit": False}


def test_url_comes_from_the_environment() -> None:
    done = cli("get", "k", env={"CACHEKIT_URL": "local://?namespace=from-env"})
    assert done.returncode == 3
    assert "cachekit:v2:from-env:k" in done.stdout


def test_delete_of_a_missing_key_is_not_an_error() -> None:
    code, doc = cli_json("--url", "local://", "delete", "k")
    assert code == 0
    assert doc == {"key": "cachekit:v2:default:k", "deleted": False}


def test_clear_with_yes_reports_the_count() -> None:
    code, doc = cli_json("--url", "local://", "clear", "--namespace", "team-a", "--yes")
    assert code == 0
    assert doc == {"url": "local://", "namespace": "team-a", "removed": 0}
    done = cli("--url", "local://", "clear", "-y")
    assert done.stdout.strip() == "removed 0 entries from namespace 'default' of local://"


def test_clear_refuses_without_yes_when_stdin_is_not_a_terminal() -> None:
    assert_one_line_error(
        cli("--url", "local://", "clear"), 2, "stdin is not a terminal", "--yes", "'default'"
    )


@pytest.mark.parametrize(("answer", "code"), [("n\n", 1), ("\n", 1), ("yes\n", 0)])
def test_clear_asks_on_a_terminal(answer: str, code: int) -> None:
    term = Terminal("--url", "local://", "clear", "--namespace", "team-b")
    term.read_until(b"[y/N]")
    assert b"namespace 'team-b' of local://" in term.seen
    term.type(answer)
    rc, stdout, seen = term.finish()
    assert rc == code
    if code == 0:
        assert stdout.strip() == "removed 0 entries from namespace 'team-b' of local://"
    else:
        assert "aborted; nothing was removed" in seen
        assert stdout == ""


def test_stats_on_local_is_honest_about_a_fresh_process() -> None:
    code, doc = cli_json("--url", "local://", "stats")
    assert code == 0
    assert doc["backend"] == "local"
    assert doc["distribution"] == "cachekit-core"
    assert doc["reachable"] is True
    assert (doc["entries"], doc["bytes"]) == (0, 0)
    assert "one process" in doc["entries_note"]
    assert doc["counters"]["shared"] is False  # and the CLI's probe is no traffic
    assert "keeps no shared counters" in doc["counters"]["note"]
    assert "hits" not in doc["namespaces"]["default"]
    human = cli("--url", "local://", "stats").stdout
    assert "reachable  yes" in human
    assert "this backend keeps no shared counters" in human


# -- bench, demo, progress, Ctrl-C -----------------------------------------------------
def test_bench_reports_percentiles_and_throughput() -> None:
    code, doc = cli_json(
        "--url", "local://", "bench", "--ops", "300", "-c", "4", "--value-size", "256"
    )
    assert code == 0
    assert doc["backend"] == "local"
    assert doc["concurrency"] == 4
    assert doc["namespace"].startswith("cachekit-bench-")
    set_phase, get_phase = doc["phases"]
    assert (set_phase["op"], get_phase["op"]) == ("set", "get")
    for phase in (set_phase, get_phase):
        assert phase["ops"] == phase["ok"] == 300
        assert phase["errors"] == {}
        assert phase["ops_per_s"] > 0
        assert 0 < phase["p50_s"] <= phase["p90_s"] <= phase["p99_s"] <= phase["max_s"]
    assert get_phase["hits"] == 300  # every get found what the set phase wrote


def test_bench_shows_no_progress_when_stderr_is_not_a_terminal() -> None:
    done = cli("--url", "local://", "bench", "--ops", "200")
    assert done.returncode == 0
    assert done.stderr == ""
    assert "p99" in done.stdout


def test_bench_progress_on_a_terminal_and_ctrl_c_exits_130() -> None:
    term = Terminal("--url", "local://", "bench", "--ops", "100000000")
    term.read_until(b"bench set: ")  # progress is drawn on the terminal
    term.proc.send_signal(signal.SIGINT)
    rc, stdout, seen = term.finish()
    assert rc == 130
    assert "interrupted" in seen
    assert "Traceback" not in seen
    assert stdout == ""


def test_demo_shows_a_miss_then_a_hit() -> None:
    code, doc = cli_json("demo", "--latency", "0.01")
    assert code == 0
    assert doc["backend"] == "local"
    assert [c["outcome"] for c in doc["calls"]] == ["miss", "hit"]
    assert doc["provider_calls"] == 1
    assert doc["calls"][0]["answer"] == doc["calls"][1]["answer"]
    assert doc["key"].startswith("cachekit:v2:demo:completion:")
    assert {k: doc["stats"][k] for k in ("hits", "misses", "stores")} == {
        "hits": 1,
        "misses": 1,
        "stores": 1,
    }
    human = cli("demo", "--latency", "0.01").stdout
    assert "miss" in human
    assert "hit" in human
    assert "faster" in human


def test_in_process_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    from cachekit._cli import main

    assert main(["--url", "local://", "get", "absent"]) == 3
    assert "miss" in capsys.readouterr().out
