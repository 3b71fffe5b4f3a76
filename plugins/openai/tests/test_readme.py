"""The README's examples run as written.

The first python block (the ``wrap()`` example: ``AsyncOpenAI()`` and
``Cache(type="redis")`` configured from the environment) runs twice in one fresh
interpreter, with ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` pointing at a loopback
OpenAI-compatible server and ``REDIS_HOST``/``REDIS_PORT`` at a real redis-server of
its own: the server must see one request. The blocks marked ``<!-- test: run -->``
(self-contained; ``core/tests/test_docs.py`` runs them too) run as they are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cachekit.testing import OpenAIServer

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
MARKED = re.compile(r"<!-- test: run -->\n```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

# Runs each block of stdin's JSON list in a fresh namespace, top-level await allowed.
DRIVER = r"""
import ast, inspect, json, sys
import anyio

for code in json.load(sys.stdin):
    namespace = {"__name__": "__main__"}
    compiled = compile(code, "README.md", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if compiled.co_flags & inspect.CO_COROUTINE:
        async def main(compiled=compiled):
            await eval(compiled, namespace)
        anyio.run(main)
    else:
        exec(compiled, namespace)
"""


def _run(blocks: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def _clean_environment() -> dict[str, str]:
    prefixes = ("OPENAI_", "REDIS_", "AZURE_OPENAI", "CACHEKIT_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def test_the_wrap_example_runs_as_written_and_caches(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    testing = pytest.importorskip("cachekit_redis.testing")
    example = BLOCK.search(README.read_text(encoding="utf-8"))
    assert example is not None
    code = example.group(1)
    assert "wrap(AsyncOpenAI(), cache=Cache(type=" in code  # the one line
    with testing.RedisServer() as redis_server:
        env = _clean_environment()
        env.update(
            OPENAI_BASE_URL=openai_server.base_url,
            OPENAI_API_KEY="sk-readme",
            REDIS_HOST=redis_server.host,
            REDIS_PORT=str(redis_server.port),
        )
        done = _run([code, code], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert openai_server.count("/chat/completions") == 1  # the second run was a hit
    first, second = done.stdout.splitlines()
    assert first == second and "test server" in first


def test_the_self_contained_examples_run(tmp_path: Path) -> None:
    blocks = MARKED.findall(README.read_text(encoding="utf-8"))
    assert blocks, "the README lost its runnable example"
    done = _run(blocks, _clean_environment(), tmp_path)
    assert done.returncode == 0, done.stderr
