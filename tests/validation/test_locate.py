"""Validation errors located in the YAML text (soe.validation.locate)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from soe.validation.locate import ValidationFailure, render_result, validate_file, validate_text
from soe.validation.yaml_nodes import parse_path


def failure_of(text: str) -> ValidationFailure:
    failure = validate_text(textwrap.dedent(text), "wf.yaml")
    assert failure is not None
    return failure


def where(text: str) -> tuple[int, int]:
    failure = failure_of(text)
    return failure.line, failure.column


VALID = """\
main:
  Hello:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: DONE
"""


def test_valid_config_has_no_failure(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    assert validate_file(path) is None
    assert validate_text(VALID) is None
    assert render_result(None, "ok.yaml") == "ok.yaml: OK"


def test_failure_is_a_frozen_dataclass_rendered_as_file_line_col() -> None:
    failure = ValidationFailure("a.yaml", 3, 7, "boom")
    assert str(failure) == "a.yaml:3:7: boom"
    assert render_result(failure, "a.yaml") == "a.yaml:3:7: boom"
    with pytest.raises(dataclasses.FrozenInstanceError):
        failure.line = 4  # type: ignore[misc]


def test_missing_node_type_in_third_node_points_at_the_node() -> None:
    failure = failure_of("""\
        main:
          First:
            node_type: router
            event_triggers: [START]
            event_emissions: [{signal_name: A}]
          Second:
            node_type: router
            event_triggers: [A]
            event_emissions: [{signal_name: B}]
          Third:
            event_triggers: [B]
        """)
    assert (failure.line, failure.column) == (10, 3)
    assert failure.message.startswith("Workflow 'main', node 'Third': 'node_type' is required")
    assert str(failure).startswith("wf.yaml:10:3: Workflow 'main', node 'Third'")


def test_bad_emission_at_position_2_points_at_the_item() -> None:
    failure = failure_of("""\
        main:
          Route:
            node_type: router
            event_triggers: [START]
            event_emissions:
              - signal_name: GO
              - just a string
        """)
    assert failure.message.endswith("got invalid item at position 2")
    assert (failure.line, failure.column) == (7, 9)


def test_yaml_boolean_signal_name_points_at_signal_name() -> None:
    failure = failure_of("""\
        main:
          Route:
            node_type: router
            event_triggers: [START]
            event_emissions:
              - signal_name: GO
              - signal_name: NO
        """)
    assert failure.message.endswith("Event emission at position 2 is missing 'signal_name'")
    assert (failure.line, failure.column) == (7, 9)


def test_tool_emission_index_is_zero_based() -> None:
    assert where("""\
        main:
          Run:
            node_type: tool
            tool_name: t
            event_triggers: [START]
            event_emissions:
              - signal_name: OK
              - condition: "{{ result }}"
        """) == (8, 9)


def test_yaml_syntax_error_uses_the_yaml_mark() -> None:
    failure = failure_of("""\
        main:
          Route:
            node_type: router
            event_triggers: [START
            event_emissions: []
        """)
    assert failure.message.startswith("Invalid YAML configuration: ")
    assert (failure.line, failure.column) == (5, 20)


def test_tab_indentation_error_is_located() -> None:
    failure = failure_of("main:\n\tA: 1\n")
    assert failure.message.startswith("Invalid YAML configuration: ")
    assert (failure.line, failure.column) == (2, 1)


def test_bad_parameter_template_points_at_the_nested_key() -> None:
    failure = failure_of("""\
        main:
          Run:
            node_type: tool
            tool_name: t
            event_triggers: [START]
            parameters:
              a:
                b: "{{ oops"
        """)
    assert failure.message.startswith(
        "Workflow 'main', node 'Run': 'parameters.a.b' template: Jinja syntax error")
    assert (failure.line, failure.column) == (8, 9)


def test_parameter_list_index_is_followed() -> None:
    assert where("""\
        main:
          Run:
            node_type: tool
            tool_name: t
            event_triggers: [START]
            parameters:
              items:
                - q: fine
                - q: "{% if %}"
        """) == (9, 11)


def test_non_mapping_node_points_at_the_value() -> None:
    failure = failure_of("""\
        main:
          Route: just text
        """)
    assert failure.message == ("Workflow 'main', node 'Route': node config must be a mapping, "
                               "got str")
    assert (failure.line, failure.column) == (2, 10)


def test_unknown_node_type_points_at_the_type() -> None:
    assert where("""\
        main:
          Route:
            event_triggers: [START]
            node_type: routr
        """) == (4, 16)


def test_key_message_points_at_that_key() -> None:
    assert where("""\
        main:
          Ask:
            node_type: llm
            event_triggers: [START]
            prompt: hi
            retries: -1
        """) == (6, 5)


def test_prompt_syntax_error_points_at_prompt() -> None:
    assert where("""\
        main:
          Ask:
            node_type: llm
            event_triggers: [START]
            prompt: "{{ context.x "
        """) == (5, 5)


def test_router_condition_error_points_at_that_emissions_condition() -> None:
    assert where("""\
        main:
          Route:
            node_type: router
            event_triggers: [START]
            event_emissions:
              - signal_name: A
              - signal_name: B
                condition: "{{ x | nosuchfilter }}"
        """) == (8, 9)


def test_non_string_item_in_signals_to_parent() -> None:
    assert where("""\
        main:
          Kid:
            node_type: child
            event_triggers: [START]
            child_workflow_name: main
            child_initial_signals: [START]
            signals_to_parent: [OK, 3]
        """) == (7, 29)


def test_combined_shape_and_sections() -> None:
    combined = """\
        workflows:
          main:
            Hello:
              node_type: router
              event_triggers: [START]
              event_emissions: [{signal_name: DONE}]
        identities:
          helper: You help.
          bad: 3
        limits:
          max_steps: 0
        """
    failure = failure_of(combined)
    assert failure.message == "identities.bad: identity prompt must be a string, got int"
    assert (failure.line, failure.column) == (9, 3)
    assert where("workflows:\n  main: {}\nlimits: {max_steps: 0}\n") == (2, 3)
    assert where("workflows: [1]\n") == (1, 1)
    assert where(VALID + "limits:\n  max_steps: 10\n  max_turns: 3\n") == (9, 3)


def test_reserved_limits_workflow_in_combined_shape() -> None:
    failure = failure_of("""\
        workflows:
          limits:
            A: {node_type: router}
        """)
    assert failure.message.startswith("'limits' is reserved")
    assert (failure.line, failure.column) == (2, 3)


def test_whole_document_errors_point_at_the_start() -> None:
    assert where("- a\n- b\n") == (1, 1)
    assert where("") == (1, 1)
    assert where("# only a comment\n") == (1, 1)


def test_merge_keys_resolve_to_the_merged_definition() -> None:
    assert where("""\
        templates:
          base: &base
            node_type: llm
            event_triggers: [START]
            prompt: ""
        workflows:
          main:
            Ask:
              <<: *base
              output_field: x
        """) == (5, 5)


def test_parse_path() -> None:
    assert parse_path("parameters.items[0].q") == ["parameters", "items", 0, "q"]
    assert parse_path("event_emissions[2]") == ["event_emissions", 2]


def test_validate_file_reports_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("main:\n  A: 1\n")
    failure = validate_file(path)
    assert failure is not None
    assert failure.file == str(path)
    assert str(failure) == f"{path}:2:6: Workflow 'main', node 'A': node config must be a mapping, got int"
