"""``--context`` values are typed the way YAML users expect; ``--context-string`` keeps text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soe.cli.app import app
from soe.inputs import build_initial_context, parse_context_value

runner = CliRunner()

THRESHOLD = """\
num:
  Check:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: BIG
        condition: "{{ context.amount > 100 }}"
      - signal_name: SMALL
        condition: "{{ context.amount <= 100 }}"
"""

FAN_OUT = """\
parent:
  Spawn:
    node_type: child
    event_triggers: [START]
    child_workflow_name: item
    child_initial_signals: [START]
    fan_out_field: topics
    child_input_field: topic
item:
  Echo:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: DONE
"""


def run_json(tmp_path: Path, text: str, *args: str) -> dict:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["run", str(path), "--store", "memory", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_number_flag_compares_as_a_number(tmp_path):
    document = run_json(tmp_path, THRESHOLD, "-c", "amount=500")
    assert document["context"]["amount"] == 500
    assert "BIG" in document["operational"]["signals"]
    assert "SMALL" not in document["operational"]["signals"]


def test_a_flow_list_fans_out_one_child_per_item(tmp_path):
    assert run_json(tmp_path, FAN_OUT, "-c", 'topics=["a","b"]')["context"]["topics"] == ["a", "b"]
    result = runner.invoke(app, ["run", str(tmp_path / "wf.yaml"), "--store", "memory", "-c", "topics=[a, b, c]"])
    assert result.exit_code == 0, result.output
    assert "3 child executions" in result.stdout


def test_context_string_keeps_text_and_wins_over_context(tmp_path):
    document = run_json(tmp_path, THRESHOLD, "-c", "amount=5", "--context-string", "amount=500",
                        "--context-string", "zip=02134")
    assert document["context"]["amount"] == "500"
    assert document["context"]["zip"] == "02134"


@pytest.mark.parametrize(("text", "value"), [
    ("500", 500), ("-3", -3), ("1.5", 1.5), ("1e3", 1000.0), ("true", True), ("False", False),
    ("null", None), ("[a, b]", ["a", "b"]), ('{"k": 1}', {"k": 1}),
    # text stays text: YAML 1.1 booleans, leading zeros, dates, colons, empty values
    ("yes", "yes"), ("007", "007"), ("2024-01-01", "2024-01-01"), ("URGENT: down", "URGENT: down"),
    ("", ""), ("x=y", "x=y"),
    # quoting makes text, as in YAML
    ("'500'", "500"), ('"true"', "true"), ("'it''s'", "it's"), ("'unbalanced", "'unbalanced"),
])
def test_parse_context_value(text, value):
    assert parse_context_value(text) == value
    assert type(parse_context_value(text)) is type(value)


def test_a_broken_flow_collection_is_bad_input(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text(THRESHOLD)
    result = runner.invoke(app, ["run", str(path), "--store", "memory", "-c", "amount=[1, 2"])
    assert result.exit_code == 2
    assert "--context-string" in result.stderr


def test_file_then_context_then_context_string(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("a: 1\nb: 2\nc: 3\n")
    assert build_initial_context(values, ["b=20", "c=30"], ["c=300"]) == {"a": 1, "b": 20, "c": "300"}
