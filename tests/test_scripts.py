"""``scripts/demo.sh`` and ``scripts/_bootstrap.sh`` on machines like a user's.

Each test copies the scripts and the core into a temporary tree, so the private venvs
they make (``.demo-venv/``, ``.bootstrap/``) land there, and runs them with ``PATH``
and the environment a bare machine would have:

* with uv: the demo installs the core alone and reuses its venv on the next run;
* without uv, on the machine's Debian Python (PEP 668 "externally managed" on Debian
  12) wrapped to behave as if ``python3-venv`` (and ``python3-pip``) were not installed:
  the venv is made without pip, pip comes from the system's pip or from its own wheel
  on PyPI, the demo runs, and uv is installed into a private venv for ``test.sh``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ._packaging import ROOT, run, uv

#: Distributions the core's demo venv may hold: cachekit-core and its dependencies.
CORE_ONLY = {"cachekit_core", "anyio", "idna", "orjson", "pluggy", "sniffio", "typing_extensions"}
SYSTEM_PYTHON = Path("/usr/bin/python3")
#: ``python3`` as on Debian/Ubuntu without python3-venv (and, with NOPIP=1, python3-pip).
NO_VENV = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ] && [ "$3" != "--without-pip" ]; then
  mkdir -p "$3"; echo "ensurepip is not available (python3-venv missing)" >&2; exit 1
fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ -n "$NOPIP" ]; then
  echo "No module named pip" >&2; exit 1
fi
exec {python} "$@"
"""


def copy_tree(tmp: Path) -> Path:
    root = tmp / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "tests")
    shutil.copytree(ROOT / "scripts", root / "scripts", ignore=ignore)
    shutil.copytree(ROOT / "core", root / "core", ignore=ignore)
    return root


def installed(venv: Path) -> set[str]:
    return {p.name.split("-")[0] for p in venv.glob("lib/python3*/site-packages/*.dist-info")}


def steps(stderr: str) -> list[str]:
    return [line[4:] for line in stderr.splitlines() if line.startswith("==> ")]


def test_demo_installs_only_the_core_and_says_so(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    shim = tmp_path / "bin" / "uv"  # uv alone on PATH, however this machine provides it
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\nexec " + " ".join(uv()) + ' "$@"\n')
    shim.chmod(0o755)
    env = {"PATH": f"{shim.parent}:/usr/bin:/bin"}
    first = run("bash", root / "scripts" / "demo.sh", cwd=tmp_path, env=env)
    assert [s.split(" ")[0] for s in steps(first.stderr)] == ["creating", "installing", "running:"]
    assert "with uv" in steps(first.stderr)[0]
    assert "miss" in first.stdout and "hit" in first.stdout
    assert "cachekit_core" in installed(root / ".demo-venv")
    assert installed(root / ".demo-venv") <= CORE_ONLY
    again = run("bash", root / "scripts" / "demo.sh", cwd=tmp_path, env=env)
    assert steps(again.stderr)[0].startswith("using .demo-venv/")
    assert len(steps(again.stderr)) == 2


@pytest.fixture
def bare_python(tmp_path: Path) -> dict[str, str]:
    """PATH for a machine with Debian's Python, no uv, no python3-venv, no python3-pip."""
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if version.stdout.strip() != "True" or shutil.which("uv", path="/usr/bin:/bin"):
        pytest.skip("needs a Debian-like /usr/bin/python3 >= 3.11 and no uv in /usr/bin")
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    (wrapper / "python3").write_text(NO_VENV.format(python=SYSTEM_PYTHON))
    (wrapper / "python3").chmod(0o755)
    return {
        "PATH": f"{wrapper}:/usr/bin:/bin",
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        "NOPIP": "1",
    }


@pytest.mark.parametrize(
    ("system_pip", "pip_step"),
    [
        (False, "no pip anywhere: downloading pip's wheel from PyPI"),
        (True, "installing pip into"),  # with the system's (PEP 668) pip: pip --python
    ],
)
def test_demo_on_a_bare_python_without_venv_support(
    tmp_path: Path, bare_python: dict[str, str], system_pip: bool, pip_step: str
) -> None:
    root = copy_tree(tmp_path)
    env = {**bare_python, "NOPIP": "" if system_pip else "1"}
    done = run("bash", root / "scripts" / "demo.sh", cwd=tmp_path, env=env)
    said = steps(done.stderr)
    assert said[0].startswith("creating the virtual environment")
    assert said[1].startswith("ensurepip is missing")
    assert said[2].startswith(pip_step)
    assert said[3].startswith("installing cachekit-core") and said[3].endswith("with pip")
    assert "hit" in done.stdout
    assert installed(root / ".demo-venv") - {"pip"} <= CORE_ONLY


def test_bootstrap_installs_uv_into_a_private_venv(
    tmp_path: Path, bare_python: dict[str, str]
) -> None:
    root = copy_tree(tmp_path)
    script = f"source {root}/scripts/_bootstrap.sh; find_uv; command -v uv"
    done = run("bash", "-c", script, cwd=tmp_path, env=bare_python)
    assert "uv is not installed: installing it with pip into a private venv" in done.stderr
    assert done.stdout.strip() == f"{root}/.bootstrap/bin/uv"
    assert re.search(r"using uv: uv \(uv \d", done.stderr)


@pytest.mark.parametrize(
    ("args", "selects"),
    [
        ((), False),
        (("-x", "--tb", "short"), False),
        (("core/tests/test_cli.py", "-x"), True),
        (("tests/test_wheels.py::test_numpy_is_the_redis_semantic_extra",), True),
        (("plugins/redis",), True),
        (("-k", "wheel"), True),
        (("-m", "anyio"), True),
    ],
)
def test_test_sh_skips_lint_only_when_arguments_select_tests(
    args: tuple[str, ...], selects: bool
) -> None:
    quoted = " ".join(f"'{a}'" for a in args)
    script = f"source scripts/_bootstrap.sh; selects_tests {quoted} && echo yes || echo no"
    done = run("bash", "-c", script, env={"PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == ("yes" if selects else "no")
