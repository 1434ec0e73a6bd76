"""The layering holds (soe/docs/guide_26_architecture.md): import-linter contracts, and no import cycle.

The contracts live in pyproject.toml (``[tool.importlinter]``). Running them
here puts them in the one test command CI runs; the violation tests show the
contracts catch a bad import instead of passing vacuously.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter (dev extra, Python 3.11+) is not installed")
grimp = pytest.importorskip("grimp", reason="import-linter (dev extra, Python 3.11+) is not installed")

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package under ``root``, with the contracts of ``root/pyproject.toml``."""
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)


def module_cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[set[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return cycles


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_import_cycle_counting_imports_inside_functions():
    """grimp records every import statement, module level or inside a function.

    Imports under ``if TYPE_CHECKING:`` never run and are left out (as in the contracts).
    """
    graph = grimp.build_graph("soe", cache_dir=None, exclude_type_checking_imports=True)
    assert module_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert module_cycles(graph) == [{"p.a", "p.b", "p.c"}]


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The package (without its vendored browser files) and the contracts, in a scratch directory."""
    shutil.copytree(ROOT / "soe", tmp_path / "soe",
                    ignore=shutil.ignore_patterns("__pycache__", "vendor", "docs"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


VIOLATIONS = [
    # (module, import added inside a function, contract that must break)
    ("soe/lib/ids.py", "from soe.engine import runner", "Helpers never import a node type or the engine"),
    ("soe/engine/status.py", "from soe.backends import memory", "see storage only through the protocols"),
    ("soe/backends/memory.py", "from soe.validation import config", "Storage backends import nothing above"),
    ("soe/engine/telemetry.py", "from soe.engine import orchestrate", "No import cycle between sibling"),
]


@pytest.mark.parametrize(("module", "statement", "contract"), VIOLATIONS)
def test_a_forbidden_import_breaks_a_contract(package_copy: Path, module: str, statement: str,
                                              contract: str):
    path = package_copy / module
    path.write_text(path.read_text() + f"\n\ndef _violation() -> None:\n    {statement}\n")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in " ".join(broken.split()), result.stdout
