"""``cachekit backends`` and ``cachekit --version`` with broken and clashing installs.

Each case installs real distribution metadata (a ``*.dist-info`` folder with
``METADATA`` and ``entry_points.txt``) and modules in a temporary folder put first on
``PYTHONPATH``, then runs the command in a subprocess, as a user's environment would
look: importlib.metadata finds them exactly as it finds pip-installed packages.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .test_cli import broken_plugins, cli, cli_json

__all__ = ["broken_plugins"]  # a fixture shared with test_cli.py


def install(root: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """Write the metadata of an installed distribution ``dist`` under ``root``."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    if entry_points:
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[cachekit]\n{lines}")


@pytest.fixture
def broken_redis(tmp_path: Path) -> dict[str, str]:
    """cachekit-redis 9.9 installed, but its plugin module cannot import its client
    (it shadows the workspace's cachekit-redis: the first distribution on the path wins)."""
    (tmp_path / "ck_redis_without_client.py").write_text(
        "raise ImportError(\"No module named 'redis'\")\n"
    )
    target = "ck_redis_without_client"
    install(tmp_path, "cachekit-redis", "9.9", {"redis": target, "redis-semantic": target})
    return {"PYTHONPATH": str(tmp_path)}


def test_an_installed_plugin_that_fails_to_load_is_not_called_not_installed(
    broken_redis: dict[str, str],
) -> None:
    code, doc = cli_json("backends", env=broken_redis)
    assert code == 0
    failed = {f["name"]: f for f in doc["failed_to_load"]}
    assert set(failed) == {"redis", "redis-semantic"}
    assert failed["redis"]["distribution"] == "cachekit-redis"
    assert failed["redis"]["version"] == "9.9"
    assert failed["redis"]["error"] == "ImportError: No module named 'redis'"
    assert "redis" not in {m["name"] for m in doc["not_installed"]}
    assert {"plugin": "redis", "stage": "load", "distribution": "cachekit-redis"}.items() <= next(
        f for f in doc["failures"] if f["plugin"] == "redis"
    ).items()

    human = cli("backends", env=broken_redis).stdout
    assert (
        "installed (distribution cachekit-redis version 9.9) but failed to load: "
        "ImportError: No module named 'redis'"
    ) in human
    assert "pip install cachekit-redis" not in human
    assert "disk" in human  # the other plugins still load


def test_building_a_cache_of_a_broken_plugin_names_the_error(broken_redis: dict[str, str]) -> None:
    done = cli("--url", "redis://127.0.0.1:1/0", "get", "k", env=broken_redis)
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert "cachekit-redis 9.9 is installed but failed to load" in error
    assert "No module named 'redis'" in error
    assert "pip install" not in error


def test_a_raising_registration_hook_is_reported_with_its_distribution(
    broken_plugins: dict[str, str],
) -> None:
    code, doc = cli_json("backends", env=broken_plugins)
    assert code == 0
    (failure,) = [f for f in doc["failures"] if f["plugin"] == "ck_broken_hook"]
    assert failure == {
        "plugin": "ck_broken_hook",
        "stage": "cachekit_register_backends",
        "error": "RuntimeError: bad credentials file",
        "distribution": "ck-broken-hook",
        "version": "1.0",
    }
    human = cli("backends", env=broken_plugins).stdout
    assert "ck_broken_hook (cachekit_register_backends) from ck-broken-hook 1.0: " in human


# -- the unrelated PyPI project named "cachekit" ---------------------------------------
@pytest.fixture
def foreign_cachekit(tmp_path: Path) -> dict[str, str]:
    """The other project's metadata (distribution ``cachekit``) in this environment."""
    install(tmp_path, "cachekit", "0.24.1", {})
    return {"PYTHONPATH": str(tmp_path)}


def test_version_says_plainly_that_the_other_cachekit_is_installed(
    foreign_cachekit: dict[str, str],
) -> None:
    done = cli("--version", env=foreign_cachekit)
    assert done.returncode == 0
    first, warning = done.stdout.strip().splitlines()
    assert first.startswith("cachekit ")
    assert "unrelated PyPI project 'cachekit' 0.24.1 is installed" in warning
    assert "pip uninstall cachekit && pip install --force-reinstall cachekit-core" in warning


def test_backends_says_plainly_that_the_other_cachekit_is_installed(
    foreign_cachekit: dict[str, str],
) -> None:
    code, doc = cli_json("backends", env=foreign_cachekit)
    assert code == 0
    assert doc["foreign_cachekit"]["version"] == "0.24.1"
    assert "pip uninstall cachekit" in doc["foreign_cachekit"]["advice"]
    assert (
        "Warning: the unrelated PyPI project 'cachekit' 0.24.1"
        in cli("backends", env=foreign_cachekit).stdout
    )


def test_without_the_other_cachekit_nothing_is_said() -> None:
    code, doc = cli_json("backends")
    assert code == 0 and doc["foreign_cachekit"] is None
    done = cli("--version")
    assert len(done.stdout.strip().splitlines()) == 1
    assert "unrelated" not in cli("backends").stdout


def test_building_a_cache_warns_once_and_importing_does_not(
    foreign_cachekit: dict[str, str], tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import logging, sys
        logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
        import cachekit
        print("imported", file=sys.stderr, flush=True)
        cachekit.Cache(type="local")
        cachekit.Cache(type="local")
        cachekit.build_plugin_manager()
        """
    )
    env = {**foreign_cachekit}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**_base_env(), **env},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    before, _, after = done.stderr.partition("imported")
    assert "unrelated" not in before
    assert after.count("WARNING the unrelated PyPI project 'cachekit' 0.24.1") == 1


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
