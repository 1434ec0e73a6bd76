"""Validation for people: every error of a file at once, bare nodes explained, YAML errors name the file."""

from __future__ import annotations

import textwrap

from soe.validation.lint import lint_config
from soe.validation.locate import validate_text, validate_text_all

THREE_ERRORS = """\
wf:
  A:
    node_type: router
    event_triggers: [START]
  B:
    node_type: llm
    event_triggers: [START]
  C:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: OK
other:
  D:
    node_type: bogus
identities:
  x: 1
"""


def test_every_error_is_reported_in_order_with_its_position():
    failures = validate_text_all(THREE_ERRORS, "three.yaml")
    assert [(f.line, f.message.split(":")[0]) for f in failures] == [
        (2, "Workflow 'wf', node 'A'"), (5, "Workflow 'wf', node 'B'"), (15, "Workflow 'other', node 'D'"),
        (17, "Workflow 'identities', node 'x'")]
    assert "'prompt' is required" in failures[1].message
    assert str(failures[0]).startswith("three.yaml:2:3: ")
    assert validate_text(THREE_ERRORS) == validate_text_all(THREE_ERRORS)[0]


def test_sections_of_the_combined_shape_are_checked_past_a_bad_workflow():
    failures = validate_text_all(textwrap.dedent("""\
        workflows:
          wf:
            A:
              node_type: router
        identities:
          helper: 3
        limits: {max_steps: 0}
        """))
    assert [f.message.split(":")[0] for f in failures] == [
        "Workflow 'wf', node 'A'", "identities.helper", "limits.max_steps"]


def test_a_valid_file_has_no_failures():
    assert validate_text_all("wf:\n  A:\n    node_type: router\n    event_triggers: [S]\n"
                             "    event_emissions: [{signal_name: D}]\n") == []


def test_a_bare_node_mapping_is_explained():
    [failure] = validate_text_all(textwrap.dedent("""\
        Hello:
          node_type: router
          event_triggers: [START]
          event_emissions:
            - signal_name: DONE
        """), "bare.yaml")
    assert (failure.line, failure.column) == (1, 1)
    assert failure.message.startswith("Workflow 'Hello' looks like a node, not a workflow")
    assert "add a workflow name line" in failure.message
    [finding] = lint_config("Hello:\n  node_type: router\n  event_triggers: [START]\n")
    assert finding.code == "SOE001" and "looks like a node" in finding.message


def test_yaml_errors_name_the_file_not_a_unicode_string():
    [failure] = validate_text_all("a: [1\nb: 2\n", "broken.yaml")
    assert '"<unicode string>"' not in failure.message
    assert 'in "broken.yaml", line 1, column 4' in failure.message


def test_lint_reports_every_validation_error():
    assert [f.code for f in lint_config(THREE_ERRORS)] == ["SOE001"] * 4
