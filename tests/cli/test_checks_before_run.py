"""``soe run`` and ``soe validate`` check with lint before anything runs: errors stop, warnings show."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PING_PONG_LOOP as LOOP
from typer.testing import CliRunner

from soe.cli.app import app

runner = CliRunner()

BAD_LLM_CONDITION = """\
wf:
  Ask:
    node_type: llm
    event_triggers: [START]
    prompt: "Say hi"
    output_field: answer
    event_emissions:
      - signal_name: DONE
        condition: "{{ context.answer | length > }}"
"""

BAD_TOOL_CONDITION = """\
wf:
  Get:
    node_type: tool
    event_triggers: [START]
    tool_name: soe_get_context
    event_emissions:
      - signal_name: DONE
        condition: "{{ result ) }}"
"""

MISSPELLED = """\
workflows:
  wf:
    Ask:
      node_type: llm
      event_triggers: [START]
      prompt: "Say hi"
      outputfield: answer
identites:
  helper: "Be kind."
"""

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    return path


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.mark.parametrize(("text", "line"), [(BAD_LLM_CONDITION, 9), (BAD_TOOL_CONDITION, 8)])
def test_run_refuses_a_condition_that_cannot_compile(tmp_path, text, line):
    path = write(tmp_path, text)
    result = invoke("run", path, "--llm", "echo", "--store", "memory")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {path}:{line}:9: error SOE010 ")
    assert result.stdout == ""  # nothing ran


@pytest.mark.parametrize("text", [BAD_LLM_CONDITION, BAD_TOOL_CONDITION])
def test_validate_reports_lint_errors_too(tmp_path, text):
    path = write(tmp_path, text)
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert "SOE010" in result.stdout and "OK" not in result.stdout


def test_validate_reports_every_error(tmp_path):
    path = write(tmp_path, """\
wf:
  A:
    node_type: router
    event_triggers: [START]
  B:
    node_type: llm
    event_triggers: [START]
""")
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:2:3: Workflow 'wf', node 'A': 'event_emissions' is required - specify which signals "
        "to emit based on conditions",
        f"{path}:5:3: Workflow 'wf', node 'B': 'prompt' is required - provide the prompt template for the LLM",
    ]


def test_run_prints_lint_warnings_first_and_quiet_hides_them(tmp_path):
    path = write(tmp_path, MISSPELLED)
    result = invoke("run", path, "--llm", "echo", "--store", "memory")
    assert result.exit_code == 0, result.output
    assert "did you mean 'output_field'?" in result.stderr
    assert "did you mean 'identities'?" in result.stderr
    quiet = invoke("run", path, "--llm", "echo", "--store", "memory", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_run_warns_about_an_unguarded_loop_before_running(tmp_path):
    path = write(tmp_path, LOOP)
    result = invoke("run", path, "--store", "memory", "--max-steps", "20", "--json")
    assert result.exit_code == 1
    assert "SOE006" in result.stderr and "unguarded loop" in result.stderr


def test_initial_signals_and_context_fields_are_not_reported_as_missing(tmp_path):
    path = write(tmp_path, """\
wf:
  Ask:
    node_type: llm
    event_triggers: [GO]
    prompt: "About {{ context.topic }}"
    output_field: answer
""")
    result = invoke("run", path, "--llm", "echo", "--store", "memory", "-s", "GO", "-c", "topic=x")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "SOE009" in invoke("run", path, "--llm", "echo", "--store", "memory", "-s", "GO").stderr
