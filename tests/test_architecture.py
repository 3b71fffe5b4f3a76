"""The architecture's rules, checked on the source (AST, nothing is imported).

* Plugins (``src`` and ``tests`` of every ``plugins/*``) use only public ``cachekit``
  names and ``cachekit.testing``: no ``cachekit._x`` module, no ``_private`` name
  imported from ``cachekit``. A plugin's own private modules are its business.
* The core never imports a plugin package; no plugin imports another one.
* The key and lifetime policy (``cachekit._policy``) depends on nothing above it:
  not the engine, the LLM-call layer, the semantic index, the facade, the global
  cache, the builder or the CLI.
* No import cycles among the core's modules at import time (imports under
  ``if TYPE_CHECKING:`` and inside functions do not run then).
* Every core module stays at most :data:`MAX_LINES` lines.

An import counts wherever it is written (module level, a function, a
``TYPE_CHECKING`` block) for the boundary rules, and so do
``import_module("constant")`` and ``register(name, "module:attribute")``; only the
cycle rule looks at import time alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "src" / "cachekit"
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
MAX_LINES = 400

#: What ``cachekit._policy`` must not depend on (the layers above it).
POLICY_MUST_NOT_IMPORT = (
    "cachekit._engine",
    "cachekit._llm",
    "cachekit._semantic",
    "cachekit._cache",
    "cachekit._global",
    "cachekit._build",
    "cachekit._cli",
)


@dataclass(frozen=True)
class Import:
    """One imported module (and, for ``from m import n``, the name ``n``)."""

    path: Path
    line: int
    module: str
    name: str | None
    import_time: bool  # runs when the importing module is imported

    def where(self) -> str:
        what = self.module if self.name is None else f"{self.module}:{self.name}"
        return f"{self.path.relative_to(ROOT)}:{self.line}: {what}"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_name(path: Path) -> str:
    """The dotted name of a source file (``.../src/pkg/a/b.py`` → ``pkg.a.b``)."""
    parts = list(path.with_suffix("").parts)
    anchor = max(i for i, part in enumerate(parts) if part in ("src", "tests"))
    names = parts[anchor + 1 :]
    if names and names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def _resolve(path: Path, level: int, module: str | None) -> str:
    """The absolute module of a relative import written in ``path``."""
    if level == 0:
        return module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, module] if module else base)


def imports_of(path: Path) -> list[Import]:
    """Every import written in ``path`` (see the module docstring)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, import_time: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(path, node.lineno, a.name, None, import_time) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(path, node.level, node.module)
            found.extend(Import(path, node.lineno, module, a.name, import_time) for a in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(path, node.lineno, node.args[0].value, None, False))
        elif (  # register(name, "module:attribute"): imported when first used
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "register"
            and len(node.args) == 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and ":" in node.args[1].value
        ):
            module, _, attribute = node.args[1].value.partition(":")
            found.append(Import(path, node.lineno, module, attribute, False))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                visit(statement, False)
            for statement in node.orelse:
                visit(statement, import_time)
            return
        inner = import_time and not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return found


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not any(part.startswith(".") or part == "__pycache__" for part in path.parts):
            yield path


def plugin_packages() -> dict[Path, str]:
    """Each plugin directory → its import package (``plugins/redis`` → ``cachekit_redis``)."""
    found = {}
    for plugin in PLUGINS:
        (package,) = [p.name for p in (plugin / "src").iterdir() if (p / "__init__.py").is_file()]
        found[plugin] = package
    return found


def _is_private_module(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def _top(module: str) -> str:
    return module.split(".", 1)[0]


# -- the plugin boundary ----------------------------------------------------------------
@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_plugins_use_only_public_cachekit_names(plugin: Path) -> None:
    bad = []
    for path in python_files(plugin):
        for imp in imports_of(path):
            if _top(imp.module) != "cachekit":
                continue
            private_name = imp.name is not None and imp.name.startswith("_")
            if _is_private_module(imp.module) or private_name:
                bad.append(imp.where())
    assert bad == [], "plugins may import only public cachekit names:\n" + "\n".join(bad)


def _is_test(path: Path) -> bool:
    return "tests" in path.parts


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_no_plugin_imports_another(plugin: Path) -> None:
    """One exception: a plugin's *tests* may use another plugin's public test helpers
    (``cachekit_redis.testing.RedisServer``), which exist to be shared. Its source never
    imports another plugin."""
    packages = plugin_packages()
    others = set(packages.values()) - {packages[plugin]}
    bad = [
        imp.where()
        for path in python_files(plugin)
        for imp in imports_of(path)
        if _top(imp.module) in others
        and not (_is_test(path) and imp.module == f"{_top(imp.module)}.testing")
    ]
    assert bad == [], f"{plugin.name} imports another plugin:\n" + "\n".join(bad)


def test_the_core_never_imports_a_plugin() -> None:
    plugins = set(plugin_packages().values())
    bad = [
        imp.where()
        for path in python_files(CORE)
        for imp in imports_of(path)
        if _top(imp.module) in plugins or _top(imp.module).startswith("cachekit_")
    ]
    assert bad == [], "the core imports a plugin package:\n" + "\n".join(bad)


# -- the core's layers -------------------------------------------------------------------
def test_policy_depends_on_nothing_above_it() -> None:
    bad = [
        imp.where()
        for path in python_files(CORE / "_policy")
        for imp in imports_of(path)
        for target in (imp.module, f"{imp.module}.{imp.name}")
        if any(target == m or target.startswith(m + ".") for m in POLICY_MUST_NOT_IMPORT)
    ]
    assert bad == [], "cachekit._policy imports a layer above it:\n" + "\n".join(sorted(set(bad)))


def core_import_graph() -> dict[str, set[str]]:
    """Core module → the core modules it imports when it is imported."""
    modules = {module_name(path): path for path in python_files(CORE)}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in imports_of(path):
            if not imp.import_time or _top(imp.module) != "cachekit":
                continue
            submodule = f"{imp.module}.{imp.name}"
            target = submodule if submodule in modules else imp.module
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_the_core() -> None:
    found = cycles(core_import_graph())
    assert found == [], "import cycles among core modules:\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_core_modules_are_small() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in python_files(CORE)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"core modules over {MAX_LINES} lines: {long}"


# -- the scanner itself ------------------------------------------------------------------
def test_the_scanner_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    source = package / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import cachekit._engine\n"
        "from cachekit import _private\n"
        "from . import sibling\n"
        "from .. import outside\n"
        "if TYPE_CHECKING:\n"
        "    from cachekit._policy import keys\n"
        "def later():\n"
        "    import cachekit_redis\n"
        "    import_module('cachekit_s3._backend')\n"
        "    register('x', 'cachekit._storage._local:LocalBackend')\n"
    )
    found = {(i.module, i.name, i.import_time) for i in imports_of(source)}
    assert ("cachekit._engine", None, True) in found
    assert ("cachekit", "_private", True) in found
    assert ("pkg", "sibling", True) in found
    assert ("", "outside", True) in found
    assert ("cachekit._policy", "keys", False) in found
    assert ("cachekit_redis", None, False) in found
    assert ("cachekit_s3._backend", None, False) in found
    assert ("cachekit._storage._local", "LocalBackend", False) in found
    assert module_name(source) == "pkg.mod"
