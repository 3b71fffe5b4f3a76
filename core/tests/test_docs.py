"""The documentation's code examples run, so they cannot drift from the code.

The convention (documented in CONTRIBUTING.md, "Runnable documentation"):

* in CONTRIBUTING.md every ```python block runs;
* in README.md, core/README.md and plugins/*/README.md a ```python block runs when
  the line before it (blank lines aside) is ``<!-- test: run -->``;
* ``<!-- test: continue -->`` runs a block in the namespace of the previous block of
  the same file; ``<!-- test: skip -->`` keeps a block of CONTRIBUTING.md from running;
* any other ``<!-- test: … -->`` marker, or a marker not followed by a python block,
  is an error.

Each chain (a block plus the blocks that continue it) runs in its own Python process
in a fresh temporary directory. Top-level ``await`` is allowed. Tracebacks point at
the Markdown file's own line numbers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<value>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
KNOWN_MARKERS = ("run", "continue", "skip")
PYTHON = ("python", "py")


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

    @property
    def id(self) -> str:
        first = self.blocks[0]
        rel = os.path.relpath(first.path, ROOT)
        return f"{rel}:{first.line}"


def parse_chains(text: str, path: str, *, run_all: bool) -> list[Chain]:
    """The runnable chains of one Markdown document (see the module docstring)."""
    lines = text.splitlines()
    chains: list[Chain] = []
    pending: tuple[str, int] | None = None  # (marker, line number)
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        fence = FENCE.match(line)
        if marker:
            value = marker.group("value")
            if value not in KNOWN_MARKERS:
                raise DocsError(f"{path}:{i + 1}: unknown marker 'test: {value}' ({KNOWN_MARKERS})")
            if pending is not None:
                raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
            pending = (value, i + 1)
        elif fence:
            end = _closing_fence(lines, i, fence.group("fence"), path)
            is_python = fence.group("lang").lower() in PYTHON
            if pending is not None and not is_python:
                raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
            if is_python:
                code = "\n".join(_dedent(lines[i + 1 : end], len(fence.group("indent"))))
                block = Block(path, i + 2, code)
                kind = pending[0] if pending else ("run" if run_all else "skip")
                if kind == "run":
                    chains.append(Chain([block]))
                elif kind == "continue":
                    if not chains:
                        raise DocsError(f"{path}:{i + 1}: 'test: continue' with no block before it")
                    chains[-1].blocks.append(block)
            pending = None
            i = end
        elif line.strip() and pending is not None:
            raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
        i += 1
    if pending is not None:
        raise DocsError(f"{path}:{pending[1]}: marker is not followed by a python block")
    return chains


def _closing_fence(lines: list[str], start: int, fence: str, path: str) -> int:
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            return j
    raise DocsError(f"{path}:{start + 1}: code block is never closed")


def _dedent(lines: list[str], indent: int) -> list[str]:
    """Remove the fence's indentation (a block inside a list item) from each line."""
    return [line[indent:] if line[:indent].strip() == "" else line.lstrip() for line in lines]


def doc_files() -> list[tuple[Path, bool]]:
    """Markdown files with examples, and whether every python block in them runs."""
    files = [(ROOT / "CONTRIBUTING.md", True)]
    readmes = [ROOT / "README.md", ROOT / "core" / "README.md"]
    readmes += sorted((ROOT / "plugins").glob("*/README.md"))
    files += [(path, False) for path in readmes if path.is_file()]
    return files


def all_chains() -> list[Chain]:
    chains: list[Chain] = []
    for path, run_all in doc_files():
        chains += parse_chains(path.read_text(encoding="utf-8"), str(path), run_all=run_all)
    return chains


# Runs in a fresh interpreter: compiles each block at its Markdown line numbers (the
# code is preceded by as many empty lines, so syntax errors point there too), allowing
# top-level await, and executes the chain in one namespace.
DRIVER = r"""
import ast, inspect, json, sys
import anyio

namespace = {"__name__": "__main__"}
for block in json.load(sys.stdin):
    source = "\n" * (block["line"] - 1) + block["code"]
    code = compile(source, block["path"], "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    if code.co_flags & inspect.CO_COROUTINE:
        async def main(code=code):
            await eval(code, namespace)
        anyio.run(main)
    else:
        exec(code, namespace)
"""


def run_chain(chain: Chain, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    payload = json.dumps([block.__dict__ for block in chain.blocks])
    return subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=payload,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


CHAINS = all_chains()


@pytest.mark.parametrize("chain", CHAINS, ids=[c.id for c in CHAINS])
def test_example_runs(chain: Chain, tmp_path: Path) -> None:
    done = run_chain(chain, tmp_path)
    assert done.returncode == 0, f"the example at {chain.id} failed:\n{done.stderr}"


def test_contributing_examples_are_found() -> None:
    chains = [c for c in CHAINS if c.id.startswith("CONTRIBUTING.md")]
    assert len(chains) >= 1
    assert sum(len(c.blocks) for c in chains) >= 2  # the backend and its contract test
    assert any(c.id.startswith(os.path.join("plugins", "_template")) for c in CHAINS)


# -- the convention itself -------------------------------------------------------------
SAMPLE = """\
# Title

```python
skipped_in_readmes = True
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

<!-- test: skip -->
```python
raise SystemExit("never runs")
```

```bash
echo not python
```
"""


def test_markers_select_blocks_and_chains() -> None:
    readme = parse_chains(SAMPLE, "README.md", run_all=False)
    assert [[b.code for b in c.blocks] for c in readme] == [["x = 1", "assert x == 1"]]
    assert [b.line for b in readme[0].blocks] == [10, 17]

    contributing = parse_chains(SAMPLE, "CONTRIBUTING.md", run_all=True)
    assert [[b.code for b in c.blocks] for c in contributing] == [
        ["skipped_in_readmes = True"],
        ["x = 1", "assert x == 1"],
    ]


def test_indented_blocks_are_dedented() -> None:
    text = "1. step\n\n   <!-- test: run -->\n   ```python\n   if True:\n       y = 2\n   ```\n"
    (chain,) = parse_chains(text, "README.md", run_all=False)
    assert chain.blocks[0].code == "if True:\n    y = 2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- test: runn -->\n```python\npass\n```\n", "unknown marker"),
        ("<!-- test: run -->\nprose\n```python\npass\n```\n", "not followed by a python block"),
        ("<!-- test: run -->\n```bash\nls\n```\n", "not followed by a python block"),
        ("<!-- test: run -->\n", "not followed by a python block"),
        ("<!-- test: continue -->\n```python\npass\n```\n", "no block before it"),
        ("<!-- test: run -->\n```python\npass\n", "never closed"),
    ],
)
def test_malformed_markers_are_errors(text: str, message: str) -> None:
    with pytest.raises(DocsError, match=message):
        parse_chains(text, "README.md", run_all=False)


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
    (chain,) = parse_chains(text, str(doc), run_all=False)
    done = run_chain(chain, tmp_path)
    assert done.returncode != 0
    assert f'File "{doc}", line {line}' in done.stderr
    assert needle in done.stderr


def test_top_level_await_runs_in_an_event_loop(tmp_path: Path) -> None:
    text = "```python\nimport anyio\nawait anyio.sleep(0)\nresult = 42\n```\n"
    (chain,) = parse_chains(text, "CONTRIBUTING.md", run_all=True)
    assert run_chain(chain, tmp_path).returncode == 0


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
