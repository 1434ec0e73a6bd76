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


BROKEN_PROMPT = """\
support:
  Ask:
    node_type: llm
    event_triggers: [START]
    prompt: "Answer {{ context.ticket.title.upper() }}"
    output_field: answer
"""


def test_a_runtime_template_error_names_workflow_node_and_field(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_PROMPT)
    result = invoke("run", path, "--store", "memory", "--llm", "echo", "--quiet")
    assert result.exit_code == 1
    [line] = [line for line in result.stdout.splitlines() if "Template error" in line]
    assert line.startswith("Workflow 'support': Template error in node 'Ask', prompt: ")
    assert "TemplateRenderError" not in result.stdout


def test_the_engine_error_carries_the_workflow_name(tmp_path):
    from soe import TemplateRenderError, create_all_nodes, orchestrate
    from soe.llm import echo
    from soe.local_backends import create_in_memory_backends

    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=echo())
    with pytest.raises(TemplateRenderError) as caught:
        orchestrate(BROKEN_PROMPT, "support", ["START"], {}, backends, broadcast)
    assert (caught.value.workflow_name, caught.value.node_name, caught.value.field) == ("support", "Ask", "prompt")
    assert str(caught.value).startswith("Template error in node 'Ask', prompt: ")  # SPEC §15's text


def test_a_yaml_syntax_error_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("wf: [1\nb: 2\n")
    for command in (["run", path, "--store", "memory"], ["validate", path], ["graph", path]):
        result = invoke(*command)
        output = (result.stderr or result.stdout).strip()
        assert len(output.splitlines()) == 1, output
        assert f'(in "{path}", line 1, column 5)' in output
        assert "<unicode string>" not in output and "<string>" not in output
