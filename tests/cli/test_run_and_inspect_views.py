"""What ``soe run`` and ``soe inspect`` show: conditions that raised, and whole values in inspect."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import PING_PONG_LOOP as LOOP
from typer.testing import CliRunner

from soe.cli.app import app

runner = CliRunner()

NUMBERS = """\
num:
  Check:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: BIG
        condition: "{{ context.amount > 100 }}"
  Big:
    node_type: router
    event_triggers: [BIG]
    event_emissions:
      - signal_name: DONE
"""


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


def run_stored(tmp_path: Path, text: str, *args: str) -> tuple[str, str, str]:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    store = f"sqlite:{tmp_path / 'soe.db'}"
    result = invoke("run", path, "--store", store, "--quiet", *args)
    assert result.exit_code == 0, result.output
    execution_id = re.search(r"^execution (\S+)$", result.stdout, re.M).group(1)
    return result.stdout, execution_id, store


def test_a_condition_that_raised_is_a_warning_line_and_in_the_summary(tmp_path):
    stdout, _, _ = run_stored(tmp_path, NUMBERS, "--context-string", "amount=500")
    assert ("warning  Check: the condition of BIG raised '>' not supported between instances of 'str' "
            "and 'int'; not emitted") in stdout
    assert "1 condition error" in stdout


def test_inspect_lists_the_condition_error(tmp_path):
    _, execution_id, store = run_stored(tmp_path, NUMBERS, "--context-string", "amount=500")
    shown = invoke("inspect", execution_id, "--store", store)
    assert shown.exit_code == 0
    assert re.search(r"condition errors\s+1 ", shown.stdout)
    assert "condition_error" in shown.stdout and "'>' not supported between instances of 'str' and 'int'" \
        in shown.stdout
    document = json.loads(invoke("inspect", execution_id, "--store", store, "--json").stdout)
    [event] = [e for e in document["events"] if e["event_type"] == "condition_error"]
    assert event["context"]["signal_name"] == "BIG"


def test_inspect_shows_values_whole_and_run_may_cut_them(tmp_path):
    long_text = "word " * 60 + "END"
    stdout, execution_id, store = run_stored(tmp_path, NUMBERS, "--context-string", f"note={long_text}",
                                             "-c", "amount=5")
    assert "END" not in stdout and "…" in stdout
    shown = invoke("inspect", execution_id, "--store", store)
    assert long_text in shown.stdout
    assert "…" not in shown.stdout


def test_plain_output_summarises_a_runaway_loop(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(LOOP)
    result = invoke("run", path, "--store", "memory", "--max-steps", "3000", "--quiet")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) < 60
    assert sum(line.endswith("  node     Ping (router)") for line in lines) == 5
    assert any("repeat   node     Ping (router) (seen 1,000 times" in line for line in lines)
    assert "5,980 repeated lines not shown" in result.stdout  # 6,001 events, 21 lines shown
    assert "step budget of 3000 node runs spent" in result.stdout


def test_children_of_a_fan_out_are_summarised_together(tmp_path):
    path = tmp_path / "fan.yaml"
    path.write_text("""\
parent:
  Spawn:
    node_type: child
    event_triggers: [START]
    child_workflow_name: item
    child_initial_signals: [START]
    fan_out_field: items
    child_input_field: item
item:
  Echo:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: DONE
""")
    result = invoke("run", path, "--store", "memory", "-c", f"items={list(range(40))}", "--quiet")
    assert result.exit_code == 0, result.output
    assert "[item#1]" in result.stdout and "[item#40]" not in result.stdout
    assert "40 child executions" in result.stdout


def test_on_a_terminal_run_cuts_values_to_its_width():
    import io

    from rich.console import Console

    from soe.cli.render import RunReport, Screen, print_report

    value = "x" * 300
    for width, shown in ((200, 170), (80, 50)):
        buffer = io.StringIO()
        screen = Screen(Console(file=buffer, force_terminal=True, width=width, color_system=None))
        print_report(screen, RunReport("e1", "completed", {"note": [value]}), history=False, summary="",
                     elapsed=0.0, inspect_hint=None)
        assert "x" * (shown - 1) + "…" in buffer.getvalue()
        assert "x" * shown not in buffer.getvalue()
