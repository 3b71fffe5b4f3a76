"""The documentation's code examples run as pasted, so they cannot drift from the code.

The convention (documented in CONTRIBUTING.md, "Runnable documentation"):

* every ```python block of README.md, CONTRIBUTING.md, core/README.md and
  plugins/*/README.md runs, as a script of its own (``python example.py``) in a fresh
  process and a fresh temporary directory: no implicit event loop, no injected names,
  so a block that works here works when a reader pastes it into a file;
* ``<!-- test: continue -->`` before a block appends it to the previous block's
  script (a walkthrough split by prose: paste both blocks into one file);
* ``<!-- test: compile-only: REASON -->`` before a block only compiles it (it needs
  something the tests cannot give, such as a real API key); the reason is required;
* ``<!-- test: run -->`` is accepted and changes nothing (every block runs);
* any other ``<!-- test: … -->`` marker, or a marker not followed by a python block,
  is an error.

Blocks that need a server read where it is from the environment, as the libraries
do anyway (``REDIS_URL``/``REDIS_HOST``/``REDIS_PORT``, ``OPENAI_BASE_URL``/
``OPENAI_API_KEY``); the harness points those variables at real servers it starts on
loopback (a ``redis-server`` and :class:`cachekit.testing.OpenAIServer`), so the
pasted code runs unchanged. Tracebacks name the Markdown file and its line numbers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cachekit.testing import OpenAIServer, ServerProcess

ROOT = Path(__file__).resolve().parents[2]

MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<value>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
COMPILE_ONLY = "compile-only"
KNOWN_MARKERS = ("run", "continue", f"{COMPILE_ONLY}: REASON")
PYTHON = ("python", "py")
#: Variables a block could pick up from the developer's shell; the harness sets its own.
FOREIGN_ENV = ("CACHEKIT_", "OPENAI_", "AZURE_OPENAI", "REDIS_", "AWS_", "QDRANT_")


class DocsError(Exception):
    """A malformed marker or fence in a Markdown file."""


@dataclass
class Block:
    path: str
    line: int  # 1-based line of the first code line
    code: str


@dataclass
class Chain:
    blocks: list[Block] = field(default_factory=list)
    #: Why the chain is only compiled; None when it runs.
    compile_only: str | None = None

    @property
    def id(self) -> str:
        first = self.blocks[0]
        rel = os.path.relpath(first.path, ROOT)
        return f"{rel}:{first.line}"

    @property
    def code(self) -> str:
        return "\n".join(block.code for block in self.blocks)


def _kind(value: str, path: str, line: int) -> str:
    """A marker's value checked: 'run', 'continue' or 'compile-only: REASON'."""
    if value in ("run", "continue"):
        return value
    name, colon, reason = value.partition(":")
    if name.strip() == COMPILE_ONLY:
        if not colon or not reason.strip():
            raise DocsError(f"{path}:{line}: '{COMPILE_ONLY}' needs a reason: {KNOWN_MARKERS[2]}")
        return value
    raise DocsError(f"{path}:{line}: unknown marker 'test: {value}' ({', '.join(KNOWN_MARKERS)})")


def parse_chains(text: str, path: str) -> list[Chain]:
    """The chains of one Markdown document: every python block (see the module docstring)."""
    lines = text.splitlines()
    chains: list[Chain] = []
    pending: tuple[str, int] | None = None  # (marker kind, line number)
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        fence = FENCE.match(line)
        if marker:
            if pending is not None:
                raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
            pending = (_kind(marker.group("value"), path, i + 1), i + 1)
        elif fence:
            end = _closing_fence(lines, i, fence.group("fence"), path)
            is_python = fence.group("lang").lower() in PYTHON
            if pending is not None and not is_python:
                raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
            if is_python:
                code = "\n".join(_dedent(lines[i + 1 : end], len(fence.group("indent"))))
                _add(chains, Block(path, i + 2, code), pending[0] if pending else "run")
            pending = None
            i = end
        elif line.strip() and pending is not None:
            raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
        i += 1
    if pending is not None:
        raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
    return chains


def _add(chains: list[Chain], block: Block, kind: str) -> None:
    if kind == "continue":
        if not chains:
            raise DocsError(
                f"{block.path}:{block.line - 1}: 'test: continue' with no block before it"
            )
        chains[-1].blocks.append(block)
    elif kind == "run":
        chains.append(Chain([block]))
    else:
        chains.append(Chain([block], compile_only=kind.partition(":")[2].strip()))


def _closing_fence(lines: list[str], start: int, fence: str, path: str) -> int:
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            return j
    raise DocsError(f"{path}:{start + 1}: code block is never closed")


def _dedent(lines: list[str], indent: int) -> list[str]:
    """Remove the fence's indentation (a block inside a list item) from each line."""
    return [line[indent:] if line[:indent].strip() == "" else line.lstrip() for line in lines]


def doc_files() -> list[Path]:
    """Markdown files whose python blocks run."""
    files = [ROOT / "CONTRIBUTING.md", ROOT / "README.md", ROOT / "core" / "README.md"]
    files += sorted((ROOT / "plugins").glob("*/README.md"))
    return [path for path in files if path.is_file()]


def all_chains() -> list[Chain]:
    chains: list[Chain] = []
    for path in doc_files():
        chains += parse_chains(path.read_text(encoding="utf-8"), str(path))
    return chains


def script_of(chain: Chain) -> str:
    """The chain as one script, each block at its Markdown line (blank lines between)."""
    lines: list[str] = []
    for block in chain.blocks:
        lines += [""] * max(0, block.line - 1 - len(lines))
        lines += block.code.splitlines()
    return "\n".join(lines) + "\n"


def run_chain(
    chain: Chain, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the chain as ``python example.py`` in ``cwd``; tracebacks name the Markdown file."""
    script = cwd / "example.py"
    script.write_text(script_of(chain), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=180,
    )
    done.stderr = done.stderr.replace(f'File "{script}"', f'File "{chain.blocks[0].path}"')
    return done


class DocServers:
    """Real servers for the examples, started on first need and shared by the session."""

    def __init__(self) -> None:
        self.openai = OpenAIServer().start()
        self._redis: ServerProcess | None = None

    def env_for(self, chain: Chain) -> dict[str, str]:
        env = {
            "OPENAI_BASE_URL": self.openai.base_url,
            "OPENAI_API_KEY": "sk-docs",
            # LiteLLM fetches its price list from GitHub at import unless told not to;
            # offline that costs seconds of retries per example and changes nothing.
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        if "redis" in chain.code.lower():
            redis = self._start_redis()
            env.update(
                REDIS_URL=f"redis://{redis.address}/0",
                REDIS_HOST=redis.host,
                REDIS_PORT=str(redis.port),
            )
        return env

    def _start_redis(self) -> ServerProcess:
        if self._redis is None:
            binary = shutil.which("redis-server")
            if binary is None:
                pytest.skip("redis-server is not installed (apt-get install redis-server)")
            self._redis = ServerProcess(
                lambda s: [binary, "--bind", s.host, "--port", s.port, "--save", "",
                           "--appendonly", "no", "--dir", s.directory],
                name="redis",
            ).start()  # fmt: skip
        return self._redis

    def close(self) -> None:
        self.openai.close()
        if self._redis is not None:
            self._redis.close()


@pytest.fixture(scope="session")
def doc_servers() -> Iterator[DocServers]:
    servers = DocServers()
    yield servers
    servers.close()


CHAINS = all_chains()
RUNNABLE = [c for c in CHAINS if c.compile_only is None]
COMPILED = [c for c in CHAINS if c.compile_only is not None]


@pytest.mark.parametrize("chain", RUNNABLE, ids=[c.id for c in RUNNABLE])
def test_example_runs_as_pasted(chain: Chain, tmp_path: Path, doc_servers: DocServers) -> None:
    done = run_chain(chain, tmp_path, doc_servers.env_for(chain))
    assert done.returncode == 0, f"the example at {chain.id} failed:\n{done.stderr}"


@pytest.mark.parametrize("chain", COMPILED, ids=[c.id for c in COMPILED])
def test_compile_only_example_compiles(chain: Chain) -> None:
    compile(script_of(chain), chain.blocks[0].path, "exec", dont_inherit=True)


def test_examples_are_found_and_few_are_compile_only() -> None:
    ids = [c.id for c in CHAINS]
    assert sum(i.startswith("CONTRIBUTING.md") for i in ids) >= 1
    assert sum(i.startswith("README.md") for i in ids) >= 5  # quick start, recipes…
    assert any(i.startswith(os.path.join("plugins", "_template")) for i in ids)
    assert len(COMPILED) <= 2, [c.id for c in COMPILED]


# -- the convention itself -------------------------------------------------------------
SAMPLE = """\
# Title

```python
first = True
```

<!-- test: run -->

```python
x = 1
```

Some prose.

<!-- test: continue -->
```py
assert x == 1
```

<!-- test: compile-only: needs a real API key -->
```python
raise SystemExit("never runs")
```

```bash
echo not python
```
"""


def test_every_python_block_is_a_chain() -> None:
    chains = parse_chains(SAMPLE, "README.md")
    assert [[b.code for b in c.blocks] for c in chains] == [
        ["first = True"],
        ["x = 1", "assert x == 1"],
        ['raise SystemExit("never runs")'],
    ]
    assert [b.line for b in chains[1].blocks] == [10, 17]
    assert [c.compile_only for c in chains] == [None, None, "needs a real API key"]


def test_a_chain_is_one_script_at_markdown_lines() -> None:
    chain = parse_chains(SAMPLE, "README.md")[1]
    lines = script_of(chain).splitlines()
    assert lines[9] == "x = 1" and lines[16] == "assert x == 1"
    assert all(not line for line in lines[:9] + lines[10:16])


def test_indented_blocks_are_dedented() -> None:
    text = "1. step\n\n   <!-- test: run -->\n   ```python\n   if True:\n       y = 2\n   ```\n"
    (chain,) = parse_chains(text, "README.md")
    assert chain.blocks[0].code == "if True:\n    y = 2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- test: runn -->\n```python\npass\n```\n", "unknown marker"),
        ("<!-- test: skip -->\n```python\npass\n```\n", "unknown marker"),
        ("<!-- test: compile-only -->\n```python\npass\n```\n", "needs a reason"),
        ("<!-- test: compile-only:  -->\n```python\npass\n```\n", "needs a reason"),
        ("<!-- test: run -->\nprose\n```python\npass\n```\n", "not followed by a python block"),
        ("<!-- test: run -->\n```bash\nls\n```\n", "not followed by a python block"),
        ("<!-- test: run -->\n", "not followed by a python block"),
        ("<!-- test: continue -->\n```python\npass\n```\n", "no block before it"),
        ("<!-- test: run -->\n```python\npass\n", "never closed"),
    ],
)
def test_malformed_markers_are_errors(text: str, message: str) -> None:
    with pytest.raises(DocsError, match=message):
        parse_chains(text, "README.md")


@pytest.mark.parametrize(
    ("code", "line", "needle"),
    [
        ("value = 1\nassert value == 2, 'boom'", 6, "boom"),
        ("value = 1\nif value\n", 6, "SyntaxError"),
    ],
)
def test_failures_point_at_markdown_lines(
    tmp_path: Path, code: str, line: int, needle: str
) -> None:
    text = f"intro\n\n<!-- test: run -->\n```python\n{code}\n```\n"
    doc = tmp_path / "DOC.md"
    doc.write_text(text)
    (chain,) = parse_chains(text, str(doc))
    done = run_chain(chain, tmp_path)
    assert done.returncode != 0
    assert f'File "{doc}", line {line}' in done.stderr
    assert needle in done.stderr


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("import anyio\nawait anyio.sleep(0)", "SyntaxError"),  # no implicit event loop
        ("cache = Cache()", "NameError"),  # no injected imports
    ],
)
def test_examples_get_no_implicit_loop_or_globals(tmp_path: Path, code: str, needle: str) -> None:
    """A block runs exactly as a pasted script: nothing wraps it, nothing is injected."""
    (chain,) = parse_chains(f"```python\n{code}\n```\n", "README.md")
    done = run_chain(chain, tmp_path)
    assert done.returncode != 0 and needle in done.stderr


def test_examples_run_as_the_main_script(tmp_path: Path) -> None:
    code = "import sys\nif __name__ == '__main__':\n    raise SystemExit(sys.argv[0][-10:])"
    (chain,) = parse_chains(f"```python\n{code}\n```\n", "README.md")
    done = run_chain(chain, tmp_path)
    assert done.returncode == 1 and done.stderr.strip() == "example.py"


def test_compile_only_blocks_are_still_compiled() -> None:
    text = "<!-- test: compile-only: needs a key -->\n```python\nif True\n```\n"
    (chain,) = parse_chains(text, "README.md")
    with pytest.raises(SyntaxError):
        test_compile_only_example_compiles(chain)


# -- the template copy recipe ------------------------------------------------------------
def _copy_recipe() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    recipe = re.search(r"```bash\n(cp -r plugins/_template .*?)```", text, re.DOTALL)
    assert recipe, "CONTRIBUTING.md lost the template copy recipe"
    return recipe.group(1)


def test_template_copy_recipe_gives_a_working_plugin(tmp_path: Path) -> None:
    """Run the recipe of "Writing a backend plugin" on a copy of the repo's template,
    then run the renamed plugin's contract tests from source."""
    shutil.copytree(
        ROOT / "plugins" / "_template",
        tmp_path / "plugins" / "_template",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    subprocess.run(["bash", "-euo", "pipefail", "-c", _copy_recipe()], cwd=tmp_path, check=True)
    plugin = tmp_path / "plugins" / "mystore"
    leftovers = [
        str(p.relative_to(plugin))
        for p in plugin.rglob("*")
        if p.is_file()
        and "template" in (p.read_text(errors="ignore") + str(p.relative_to(plugin))).lower()
    ]
    assert leftovers == []
    assert (
        'register("mystore", "cachekit_mystore._backend:MystoreBackend")'
        in (plugin / "src/cachekit_mystore/_plugin.py").read_text()
    )
    assert 'mystore = "cachekit_mystore._plugin"' in (plugin / "pyproject.toml").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    env["PYTHONPATH"] = str(plugin / "src")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(plugin / "tests" / "test_contract.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout
