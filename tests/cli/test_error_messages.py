"""The command line's error lines: what went wrong, where, and never a Python class name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soe.cli.app import app

runner = CliRunner()

GOOD = """\
wf:
  A:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: DONE
"""

CLASS_PREFIX = re.compile(r"^Error: [A-Z][A-Za-z]*(Error|Exception|Exceeded):")


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    return path


@pytest.mark.parametrize("args", [
    ["-c", "novalue"], ["--llm", "nope:model"], ["--workflow", "missing"], ["--store", "sqlite:"],
    ["--tools", "no_such_module_xyz:TOOLS"],
])
def test_bad_input_is_one_line_without_a_class_name(good, args):
    result = invoke("run", good, "--store", "memory", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ")
    assert not CLASS_PREFIX.match(result.stderr), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
