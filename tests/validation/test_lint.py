"""Static analysis of configs (soe.validation.lint): every code, severity and position."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from soe.validation.lint import CODES, Finding, has_errors, lint_config, lint_file, render_findings

CLEAN = """\
workflows:
  main:
    Triage:
      node_type: router
      event_triggers: [START]
      event_emissions:
        - signal_name: RESEARCH
          condition: "{{ context.topic is defined }}"
    Research:
      node_type: child
      event_triggers: [RESEARCH]
      child_workflow_name: research
      child_initial_signals: [BEGIN]
      input_fields: [topic]
      signals_to_parent: [RESEARCHED]
      context_updates_to_parent: [notes]
    Write:
      node_type: llm
      event_triggers: [RESEARCHED]
      prompt: "Write about {{ context.topic }} using {{ context.notes | accumulated | join(', ') }}"
      output_field: draft
      llm_failure_signal: WRITE_FAILED
      event_emissions:
        - signal_name: SAVE
    Save:
      node_type: tool
      event_triggers: [SAVE, WRITE_FAILED]
      tool_name: save
      parameters:
        text: "{{ context.draft }}"
      output_field: saved
  research:
    Search:
      node_type: tool
      event_triggers: [BEGIN]
      tool_name: search
      parameters: {q: "{{ context.topic }}"}
      output_field: hits
      event_emissions:
        - signal_name: SEARCHED
    Summarise:
      node_type: llm
      event_triggers: [SEARCHED]
      prompt: "Summarise {{ context.hits }}"
      output_field: notes
      event_emissions:
        - signal_name: RESEARCHED
identities:
  writer: You write.
"""


def lint(text: str, **kwargs: Any) -> list[Finding]:
    return lint_config(textwrap.dedent(text), **kwargs)


def only(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def summary(findings: list[Finding]) -> list[tuple[str, str, int | None, int | None]]:
    return [(f.code, f.severity, f.line, f.column) for f in findings]


def test_clean_multi_workflow_config_has_no_findings() -> None:
    assert lint_config(CLEAN, initial_context_fields=["topic"]) == []


def test_clean_config_as_parsed_mapping_has_no_findings() -> None:
    assert lint_config(yaml.safe_load(CLEAN), initial_context_fields=("topic",)) == []


def test_clean_workflows_only_shape() -> None:
    assert lint("""\
        main:
          Hello:
            node_type: router
            event_triggers: [START]
            event_emissions: [{signal_name: GREET}]
          Greet:
            node_type: tool
            event_triggers: [GREET]
            tool_name: greet
        limits: {max_steps: 10}
        """) == []


def test_codes_are_documented() -> None:
    assert sorted(CODES) == [f"SOE{n:03d}" for n in range(1, 13)]


def test_invalid_config_is_one_located_error() -> None:
    findings = lint("""\
        main:
          A:
            node_type: router
            event_triggers: [START]
            event_emissions:
              - signal_name: NOBODY_LISTENS
          B:
            event_triggers: [X]
        """)
    assert summary(findings) == [("SOE001", "error", 7, 3)]
    assert (findings[0].workflow, findings[0].node) == ("main", "B")
    assert "'node_type' is required" in findings[0].message
    assert has_errors(findings)


def test_invalid_yaml_and_invalid_mapping() -> None:
    (finding,) = lint("main: [1\n")
    assert finding.code == "SOE001" and finding.message.startswith("Invalid YAML configuration")
    assert (finding.line, finding.column) == (2, 1)
    (mapping,) = lint_config({"main": {"A": {"node_type": "nope"}}})
    assert mapping.code == "SOE001" and mapping.line is None
    assert "quote" in lint("main:\n  A:\n    node_type: router\n    event_triggers: [S]\n"
                           "    event_emissions: [{signal_name: NO}]\n")[0].hint


def test_unheard_signal_is_a_warning_with_a_suggestion() -> None:
    findings = lint("""\
        main:
          A:
            node_type: router
            event_triggers: [START]
            event_emissions:
              - signal_name: PROCES
          B:
            node_type: tool
            event_triggers: [PROCESS]
            tool_name: t
        """)
    warning = only(findings, "SOE002")
    assert summary(warning) == [("SOE002", "warning", 6, 22)]
    assert (warning[0].workflow, warning[0].node) == ("main", "A")
    assert "did you mean 'PROCESS'" in warning[0].hint
    assert summary(only(findings, "SOE003")) == [("SOE003", "warning", 9, 22)]
    assert "can never run" in only(findings, "SOE003")[0].message


@pytest.mark.parametrize("signal", ["DONE", "TASK_COMPLETE", "FINISHED_ALL", "ERROR", "END"])
def test_terminal_looking_unheard_signal_is_info(signal: str) -> None:
    findings = lint(f"""\
        main:
          A:
            node_type: router
            event_triggers: [START]
            event_emissions: [{{signal_name: {signal}}}]
        """)
    assert summary(findings) == [("SOE002", "info", 5, 37)]


def test_llm_failure_signal_counts_as_an_emission() -> None:
    findings = lint("""\
        main:
          Ask:
            node_type: llm
            event_triggers: [START]
            prompt: hi
            llm_failure_signal: RETRY_LATER
        """)
    assert summary(findings) == [("SOE002", "warning", 6, 25)]


def test_failure_named_trigger_is_info() -> None:
    findings = lint("""\
        main:
          Run:
            node_type: tool
            event_triggers: [START]
            tool_name: t
          Recover:
            node_type: router
            event_triggers: [TOOL_FAILURE]
            event_emissions: [{signal_name: DONE}]
        """)
    dead = only(findings, "SOE003")
    assert summary(dead) == [("SOE003", "info", 8, 22)]
    assert "failure_signal" in dead[0].message


def test_initial_signals_parameter_makes_triggers_reachable() -> None:
    text = """\
        main:
          A:
            node_type: tool
            event_triggers: [KICKOFF]
            tool_name: t
        """
    assert summary(lint(text)) == [("SOE003", "warning", 4, 22)]
    assert lint(text, initial_signals=["KICKOFF"]) == []


def test_missing_child_workflow_and_unheard_signals_to_parent() -> None:
    findings = lint("""\
        main:
          Kid:
            node_type: child
            event_triggers: [START]
            child_workflow_name: helpr
            child_initial_signals: [GO]
            signals_to_parent: [HELPED]
        helper:
          H:
            node_type: router
            event_triggers: [GO]
            event_emissions: [{signal_name: HELPED}]
        """)
    assert summary(only(findings, "SOE004")) == [("SOE004", "error", 5, 26)]
    assert "did you mean 'helper'" in only(findings, "SOE004")[0].hint
    assert summary(only(findings, "SOE005")) == [("SOE005", "warning", 7, 25)]
    # 'helper' is no longer started by anyone, so GO is dead there and HELPED unheard
    assert summary(only(findings, "SOE003")) == [("SOE003", "warning", 11, 22)]


def test_signal_forwarded_to_a_listening_parent_is_heard() -> None:
    findings = lint("""\
        main:
          Kid:
            node_type: child
            event_triggers: [START]
            child_workflow_name: helper
            child_initial_signals: [GO]
            signals_to_parent: [HELPED]
          After:
            node_type: tool
            event_triggers: [HELPED]
            tool_name: t
        helper:
          H:
            node_type: router
            event_triggers: [GO]
            event_emissions: [{signal_name: HELPED}]
        """)
    assert findings == []


def test_child_event_emissions_are_reported() -> None:
    findings = lint("""\
        main:
          Kid:
            node_type: child
            event_triggers: [START]
            child_workflow_name: main
            child_initial_signals: [START]
            event_emissions: [{signal_name: CHILD_DONE}]
        """)
    assert summary(findings) == [("SOE008", "warning", 7, 5)]
    assert "Q9" in findings[0].message


LOOP = """\
main:
  Ping:
    node_type: router
    event_triggers: [START, PONG]
    event_emissions:
      - signal_name: PING
  Pong:
    node_type: tool
    event_triggers: [PING]
    tool_name: t
    event_emissions:
      - signal_name: PONG
        condition: always
"""


def test_unguarded_loop_lists_the_cycle() -> None:
    findings = lint_config(LOOP)
    assert summary(findings) == [("SOE006", "warning", 2, 3)]
    assert "Ping (PING) -> Pong (PONG) -> Ping" in findings[0].message


def test_jinja_condition_guards_a_loop() -> None:
    guarded = LOOP.replace("condition: always", 'condition: "{{ result != \'stop\' }}"')
    assert lint_config(guarded) == []


def test_llm_selection_guards_a_loop_but_a_single_emission_does_not() -> None:
    single = """\
        main:
          Writer:
            node_type: llm
            event_triggers: [START, REVISE]
            prompt: write
            event_emissions: [{signal_name: REVISE}]
        """
    assert [f.code for f in lint(single)] == ["SOE006"]
    selection = single.replace("[{signal_name: REVISE}]",
                               "[{signal_name: REVISE}, {signal_name: COMPLETED}]")
    assert summary(lint(selection)) == [("SOE002", "info", 6, 60)]


def test_self_loop_is_found() -> None:
    findings = lint("""\
        main:
          Spin:
            node_type: router
            event_triggers: [START, AGAIN]
            event_emissions: [{signal_name: AGAIN}]
        """)
    assert [f.code for f in findings] == ["SOE006"]
    assert "Spin (AGAIN) -> Spin" in findings[0].message


def test_yaml_booleans_reported_with_their_token() -> None:
    findings = lint("""\
        main:
          Ask:
            node_type: router
            event_triggers: [START, NO]
            event_emissions:
              - signal_name: YES
        """)
    assert summary(findings) == [("SOE007", "warning", 4, 29), ("SOE007", "warning", 6, 22)]
    assert "signal name NO is read as the boolean False" in findings[0].message
    assert findings[0].hint == 'quote it: "NO"'
    assert "YES" in findings[1].message


def test_yaml_booleans_in_a_mapping_config() -> None:
    config = {"main": {"A": {"node_type": "router", "event_triggers": ["START", False],
                             "event_emissions": [{"signal_name": "A_DONE"}]}}}
    findings = lint_config(config)
    assert [(f.code, f.line) for f in findings] == [("SOE002", None), ("SOE007", None)]


def test_unwritten_context_fields() -> None:
    findings = lint("""\
        main:
          Ask:
            node_type: llm
            event_triggers: [START]
            prompt: |
              Hello {{ context.user }}.
              {% if context.style is defined %}{{ context.style }}{% endif %}
              {{ context.tone | default('plain') }} {{ context.answer }}
            output_field: answer
        """)
    fields = only(findings, "SOE009")
    assert summary(fields) == [("SOE009", "warning", 5, 5), ("SOE009", "info", 5, 5),
                               ("SOE009", "info", 5, 5)]
    assert "context.user" in fields[0].message
    assert {f.message.split("context.")[1].split(",")[0] for f in fields[1:]} == {"style", "tone"}
    assert lint("""\
        main:
          Ask:
            node_type: llm
            event_triggers: [START]
            prompt: "Hello {{ context.user }}"
        """, initial_context_fields=["user"]) == []


def test_context_fields_in_tool_parameters_and_conditions() -> None:
    findings = lint("""\
        main:
          Run:
            node_type: tool
            event_triggers: [START]
            tool_name: t
            parameters:
              query:
                text: "{{ context.qry }}"
            event_emissions:
              - signal_name: RAN_DONE
                condition: "{{ context.flag }}"
        """, initial_context_fields=["query"])
    fields = only(findings, "SOE009")
    assert summary(fields) == [("SOE009", "warning", 8, 9), ("SOE009", "warning", 11, 9)]
    assert "did you mean 'query'" in fields[0].hint


def test_context_writing_builtins_disable_the_field_check() -> None:
    assert lint("""\
        main:
          Store:
            node_type: tool
            event_triggers: [START]
            tool_name: soe_update_context
            parameters: {updates: {x: 1}}
            event_emissions: [{signal_name: STORED}]
          Use:
            node_type: llm
            event_triggers: [STORED]
            prompt: "{{ context.x }}"
        """) == []


def test_condition_that_does_not_compile_and_condition_that_is_not_jinja() -> None:
    findings = lint("""\
        main:
          Run:
            node_type: tool
            event_triggers: [START]
            tool_name: t
            event_emissions:
              - signal_name: A_DONE
                condition: "{{ result + }}"
              - signal_name: B_DONE
                condition: "{% if result %}yes{% endif %}"
        """)
    assert summary(only(findings, "SOE010")) == [("SOE010", "error", 8, 9)]
    assert summary(only(findings, "SOE011")) == [("SOE011", "warning", 10, 9)]


def test_finding_rendering(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(LOOP)
    findings = lint_file(path)
    assert render_findings(findings, str(path)) == (
        f"{path}:2:3: warning SOE006 [main/Ping] {findings[0].message} (fix: {findings[0].hint})")
    assert render_findings([], "x.yaml") == "x.yaml: no findings"
    bare = Finding("SOE001", "error", None, None, "broken", "fix it")
    assert str(bare) == "<config>: error SOE001 broken (fix: fix it)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        bare.code = "X"  # type: ignore[misc]
    assert not has_errors(findings)
