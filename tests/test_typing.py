"""``mypy --strict`` stays clean on ``soe/`` (issue 14): the check runs with the suite, so CI runs it.

The configuration is ``[tool.mypy]`` in pyproject.toml. mypy is a dev
dependency: without it the test skips locally and fails in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        import mypy  # noqa: F401
    except ImportError:
        reason = "mypy is not installed: pip install -e '.[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_package_passes_mypy_strict():
    result = _mypy()  # files and strictness come from pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found" in result.stdout


def test_the_configuration_is_strict(tmp_path):
    """An unannotated function fails under the project's configuration: strict mode is really on."""
    sample = tmp_path / "sample.py"
    sample.write_text("def double(value):\n    return value * 2\n")
    result = _mypy("--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"),
                   str(sample))
    assert result.returncode == 1
    assert "Function is missing a type annotation" in result.stdout
