"""The layering rules of CONTRIBUTING.md, read from the source so they cannot silently break.

* ``envs/`` never imports ``agents/`` and ``agents/`` never imports ``envs/``;
* nothing in ``olearn/`` imports a built-in env or agent module, except ``olearn/__init__.py``
  importing the two registration tables (``olearn.envs``, ``olearn.agents``);
* no import cycles between modules (function-level imports count; ``TYPE_CHECKING`` blocks and
  the implicit import of a parent package do not);
* every package folder is declared in ``pyproject.toml`` (a wheel would miss it otherwise);
* ``import olearn`` registers the built-ins without importing torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"olearn": ROOT / "olearn", "olearn.envs": ROOT / "envs",
            "olearn.agents": ROOT / "agents"}


def _modules() -> dict[str, Path]:
    """Every module of the three source trees by its installed name."""
    out: dict[str, Path] = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([prefix, *parts])] = path
    return out


MODULES = _modules()


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path) -> set[str]:
    """Modules of ours that ``name`` imports anywhere in its body (outside TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking(node):
            return
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        for target in targets:
            while target and target not in MODULES:   # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _family(name: str) -> str:
    if name == "olearn.envs" or name.startswith("olearn.envs."):
        return "envs"
    if name == "olearn.agents" or name.startswith("olearn.agents."):
        return "agents"
    return "engine"


def test_the_graph_is_read():
    """A parser that found nothing would pass every rule below."""
    assert "olearn.registry" in GRAPH["olearn.agents"]
    assert "olearn.vector" in GRAPH["olearn.envs.oco.sea"]
    assert "olearn.spaces" in GRAPH["olearn.agents.oco.pieces"]


@pytest.mark.parametrize(("kind", "forbidden"), [("envs", "agents"), ("agents", "envs")])
def test_envs_and_agents_never_import_each_other(kind, forbidden):
    bad = sorted(f"{m} imports {t}" for m, targets in GRAPH.items() if _family(m) == kind
                 for t in targets if _family(t) == forbidden)
    assert not bad, "\n".join(bad)


def test_the_engine_imports_built_ins_only_to_register_them():
    allowed = {("olearn", "olearn.envs"), ("olearn", "olearn.agents")}
    bad = sorted(f"{m} imports {t}" for m, targets in GRAPH.items() if _family(m) == "engine"
                 for t in targets if _family(t) != "engine" and (m, t) not in allowed)
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_every_package_folder_is_declared():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(pyproject["tool"]["setuptools"]["packages"])
    folders = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert folders == declared


def test_import_olearn_registers_without_torch():
    code = ("import sys, olearn, gymnasium as gym; assert 'torch' not in sys.modules; "
            "from olearn.registry import agent_registry; "
            "assert 'olearn/SEA-v0' in gym.registry and 'olearn/LinUCB-v0' in agent_registry; "
            "print(gym.make('olearn/SEA-v0', dim=2).action_space.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(2,)"


def test_the_cli_starts_without_torch():
    code = ("import sys; from olearn.cli import main; "
            "sys.argv = ['olearn', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
