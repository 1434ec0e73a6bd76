"""Size limits a newcomer can rely on (issue 14): no function over 60 lines, no module over 400.

Counted with ``ast`` on every hand-written module under ``soe/``: a function
from its first decorator to its last line, a module by its physical lines.
Generated modules (a ``# GENERATED FILE`` first line) are not hand-written and
are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "soe"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400

# Modules allowed over the limit, each with the reason it is; none today (the runner was split in issue 14).
MODULE_EXCEPTIONS: set[str] = set()


def _hand_written() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py")
                  if not path.read_text(encoding="utf-8").startswith("# GENERATED FILE"))


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _length(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = min([function.lineno, *(decorator.lineno for decorator in function.decorator_list)])
    return (function.end_lineno or function.lineno) - first + 1


def long_functions(path: Path) -> list[str]:
    """``name (N lines)`` for every function of ``path`` longer than the limit."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{function.name} ({_length(function)} lines)" for function in _functions(tree)
            if _length(function) > MAX_FUNCTION_LINES]


def test_no_function_is_over_60_lines():
    found = {str(path.relative_to(PACKAGE)): long_functions(path) for path in _hand_written()}
    assert {path: names for path, names in found.items() if names} == {}


def test_no_module_is_over_400_lines():
    sizes = {str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
             for path in _hand_written()}
    too_long = {path: size for path, size in sizes.items()
                if size > MAX_MODULE_LINES and path not in MODULE_EXCEPTIONS}
    assert too_long == {}


def test_the_exceptions_are_still_needed():
    """An exception that no longer applies is removed, so the list never hides a new long module."""
    for relative in MODULE_EXCEPTIONS:
        path = PACKAGE / relative
        assert path.is_file(), relative
        assert len(path.read_text(encoding="utf-8").splitlines()) > MAX_MODULE_LINES, relative


@pytest.mark.parametrize(("source", "expected"), [
    ("def short():\n" + "    x = 1\n" * 59, []),
    ("def long():\n" + "    x = 1\n" * 60, ["long (61 lines)"]),
    ("class C:\n    @property\n    def long(self):\n" + "        x = 1\n" * 59, ["long (61 lines)"]),
])
def test_the_function_count_includes_decorators_and_nested_definitions(tmp_path, source, expected):
    module = tmp_path / "sample.py"
    module.write_text(source)
    assert long_functions(module) == expected
