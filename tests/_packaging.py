"""Helpers of the packaging tests (``test_wheels.py``, ``test_scripts.py``): find uv,
and run commands with an environment that does not point at the workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

__all__ = ["ROOT", "clean_env", "run", "uv"]

ROOT = Path(__file__).resolve().parents[1]


def uv() -> list[str]:
    """The uv command: on PATH (``scripts/test.sh`` puts it there), or ``python3 -m uv``."""
    found = shutil.which("uv")
    if found:
        return [found]
    python = shutil.which("python3")
    if python and subprocess.run([python, "-m", "uv", "--version"], check=False).returncode == 0:
        return [python, "-m", "uv"]
    pytest.fail("uv is needed to build and install the wheels: run `bash scripts/test.sh`")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment minus anything that would point a process at the workspace."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT", "CACHEKIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra or {})
    return env


def run(
    *argv: str | Path, cwd: Path = ROOT, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; fail the test with its output unless it exits 0."""
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done
