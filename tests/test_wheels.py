"""The distributions as users get them: built wheels and sdists, installed in a clean venv.

The module builds every wheel and sdist of the workspace once (``uv build
--all-packages``), checks what they hold (a LICENSE in each, no tests or caches in an
sdist, the metadata PyPI shows), then creates virtual environments outside the
workspace and installs the built wheels there (their dependencies come from PyPI,
through the uv cache):

* ``cachekit-core`` + ``cachekit-redis``: ``cachekit backends`` lists both types and
  ``Cache(type="redis")`` makes a round trip against a real ``redis-server`` the test
  starts on a free loopback port;
* ``cachekit-core`` alone: ``import cachekit`` works and ``Cache(type="redis")`` says
  which package to install;
* ``cachekit-openai`` alone (it brings the core and ``openai``): ``wrap()`` around the
  real ``AsyncOpenAI`` caches a chat completion served by a loopback OpenAI-compatible
  server (``cachekit.testing.OpenAIServer``, counted at the server).
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from cachekit import backend_registry, build_plugin_manager
from cachekit_redis.testing import RedisServer

from ._packaging import ROOT, run, uv

#: Distribution → the import package whose ``__init__.py`` holds its version.
PACKAGES = {
    "cachekit-core": "core/src/cachekit",
    **{
        f"cachekit-{p.name.lstrip('_')}": f"plugins/{p.name}/src/cachekit_{p.name.lstrip('_')}"
        for p in sorted((ROOT / "plugins").iterdir())
        if (p / "pyproject.toml").is_file()
    },
}
#: What an sdist may hold besides its package's ``src/`` tree.
SDIST_FILES = {"PKG-INFO", "pyproject.toml", "README.md", "LICENSE", ".gitignore"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(*uv(), "build", "--all-packages", "--no-progress", "-o", out)
    return out


def artifact(dist: Path, distribution: str, suffix: str) -> Path:
    (found,) = dist.glob(f"{distribution.replace('-', '_')}-*{suffix}")
    return found


def venv_with(tmp: Path, wheels: list[Path]) -> Path:
    """A virtual environment outside the workspace with ``wheels`` installed; its python."""
    run(*uv(), "venv", "--no-progress", "--python", sys.executable, tmp / "venv", cwd=tmp)
    python = tmp / "venv" / "bin" / "python"
    run(*uv(), "pip", "install", "--no-progress", "--python", python, *wheels, cwd=tmp)
    return python


# -- what the files hold -------------------------------------------------------------------
@pytest.mark.parametrize("distribution", PACKAGES)
def test_sdist_holds_the_sources_readme_and_license_only(dist: Path, distribution: str) -> None:
    sdist = artifact(dist, distribution, ".tar.gz")
    src = PACKAGES[distribution].split("/src/")[1]
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
        gitignore = archive.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/.gitignore")
        assert gitignore is not None
        assert b"benchmarks" not in gitignore.read()  # the package's own, not the repo's
    stray = [n for n in names if n not in SDIST_FILES and not n.startswith(f"src/{src}/")]
    assert stray == []
    assert not [n for n in names if "__pycache__" in n or "/tests/" in n or n.endswith(".pyc")]
    assert "LICENSE" in names


@pytest.mark.parametrize("distribution", PACKAGES)
def test_wheel_carries_license_and_metadata(dist: Path, distribution: str) -> None:
    wheel = artifact(dist, distribution, ".whl")
    with zipfile.ZipFile(wheel) as archive:
        info = wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"
        assert "MIT License" in archive.read(f"{info}/licenses/LICENSE").decode()
        meta = archive.read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in meta
    assert "Classifier: License ::" not in meta  # PEP 639: the expression replaces it
    for version in ("3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}" in meta
    assert "Classifier: Typing :: Typed" in meta
    assert "Project-URL: Repository, https://github.com/cachekit-dev/cachekit" in meta
    assert "Description-Content-Type: text/markdown" in meta
    # The version is written once, in the package's __init__.py.
    init = (ROOT / PACKAGES[distribution] / "__init__.py").read_text(encoding="utf-8")
    written = re.search(r'^__version__ = "([^"]+)"$', init, re.M)
    assert written is not None
    assert f"\nVersion: {written.group(1)}\n" in meta


def test_numpy_is_the_redis_semantic_extra(dist: Path) -> None:
    with zipfile.ZipFile(artifact(dist, "cachekit-redis", ".whl")) as archive:
        meta = archive.read("cachekit_redis-0.1.0.dist-info/METADATA").decode()
    numpy = [line for line in meta.splitlines() if line.startswith("Requires-Dist: numpy")]
    assert numpy == ["Requires-Dist: numpy>=1.26; extra == 'semantic'"]


def test_the_template_registers_no_backend(dist: Path) -> None:
    with zipfile.ZipFile(artifact(dist, "cachekit-template", ".whl")) as archive:
        assert not [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    # Nor in the development workspace, where it is installed.
    assert list(metadata.distribution("cachekit-template").entry_points) == []
    assert "template" not in backend_registry(build_plugin_manager(autoload=True))


# -- installed from the wheels, outside the workspace ---------------------------------------
@pytest.fixture(scope="module")
def redis_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = [artifact(dist, d, ".whl") for d in ("cachekit-core", "cachekit-redis")]
    return venv_with(tmp_path_factory.mktemp("redis-venv"), wheels)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_installed_backends_lists_local_and_redis(redis_venv: Path) -> None:
    listing = run(redis_venv.parent / "cachekit", "backends", cwd=redis_venv.parent).stdout
    rows = {line.split()[0]: line.split()[1:3] for line in listing.splitlines()[1:] if line}
    assert rows["local"] == ["cachekit-core", "0.1.0"]
    assert rows["redis"] == ["cachekit-redis", "0.1.0"]
    assert "template" not in rows


def test_installed_redis_round_trip(redis_venv: Path, redis_server: RedisServer) -> None:
    code = (
        "import cachekit, cachekit_redis, sys\n"
        "assert '/site-packages/' in cachekit.__file__, cachekit.__file__\n"
        "from cachekit import Cache\n"
        f"with Cache(type='redis', host='127.0.0.1', port={redis_server.port},"
        " namespace='wheels') as cache:\n"
        "    cache.set('answer', {'value': 42}, ttl=60)\n"
        "    assert cache.get('answer') == {'value': 42}\n"
        "    assert cache.clear() == 1\n"
        "print('numpy' in sys.modules)\n"
    )
    assert run(redis_venv, "-c", code, cwd=redis_venv.parent).stdout.strip() == "False"
    assert redis_server.command("DBSIZE") == 0  # cleared on the server, not just locally


def test_core_alone_imports_and_names_the_redis_package(
    dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    python = venv_with(
        tmp_path_factory.mktemp("core-venv"), [artifact(dist, "cachekit-core", ".whl")]
    )
    code = (
        "import cachekit\n"
        "from importlib.metadata import version\n"
        "from cachekit import Cache, UnknownBackendError\n"
        "assert cachekit.__version__ == version('cachekit-core'), cachekit.__version__\n"
        "try:\n"
        "    Cache(type='redis')\n"
        "except UnknownBackendError as exc:\n"
        "    print(exc)\n"
    )
    assert "pip install cachekit-redis" in run(python, "-c", code, cwd=python.parent).stdout
    listing = run(python.parent / "cachekit", "backends", cwd=python.parent).stdout
    rows = {line.split()[0]: line for line in listing.splitlines()[1:] if line.strip()}
    assert "cachekit-core" in rows["local"]
    assert "pip install cachekit-redis" in rows["redis"]  # known, not installed


def test_openai_package_installs_alone_and_caches_the_real_client(
    dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from cachekit.testing import OpenAIServer

    # Only cachekit-openai's own wheel and the core's (not on PyPI): openai comes from PyPI.
    python = venv_with(
        tmp_path_factory.mktemp("openai-venv"),
        [artifact(dist, d, ".whl") for d in ("cachekit-core", "cachekit-openai")],
    )
    code = (
        "import asyncio, sys\n"
        "from openai import AsyncOpenAI\n"
        "from openai.types.chat import ChatCompletion\n"
        "from cachekit import Cache\n"
        "from cachekit_openai import wrap\n"
        "async def main():\n"
        "    client = wrap(AsyncOpenAI(base_url=sys.argv[1], api_key='sk-test'),"
        " cache=Cache(type='local'))\n"
        "    ask = dict(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "    first = await client.chat.completions.create(**ask)\n"
        "    second = await client.chat.completions.create(**ask)\n"
        "    assert type(second) is ChatCompletion and second == first, (first, second)\n"
        "    print(second.choices[0].message.content)\n"
        "asyncio.run(main())\n"
    )
    with OpenAIServer() as server:
        out = run(python, "-c", code, server.base_url, cwd=python.parent).stdout
        assert server.count("/chat/completions") == 1  # the second call was a hit
    assert out.strip()
