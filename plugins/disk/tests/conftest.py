from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

PROCS = Path(__file__).with_name("_procs.py")


@pytest.fixture(scope="session")
def procs() -> ModuleType:
    """The helper-process module (value builders and checkers), loaded by path."""
    spec = importlib.util.spec_from_file_location("cachekit_disk_tests_procs", PROCS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start real helper processes (``python _procs.py ARGS...``); any still running
    at the end of the test are killed."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str | int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(PROCS), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
