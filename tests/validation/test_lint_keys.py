"""SOE012: keys nothing reads are reported, per node type and at the top level, with did-you-mean."""

from __future__ import annotations

import textwrap

from soe.validation.lint import lint_config


def codes(text: str) -> list[tuple[str, str, str | None, str, str, int | None]]:
    return [(f.code, f.severity, f.node, f.message, f.hint, f.line)
            for f in lint_config(textwrap.dedent(text)) if f.code == "SOE012"]


def test_a_misspelled_node_key_is_a_warning_with_the_right_spelling():
    [(code, severity, node, message, hint, line)] = codes("""\
        wf:
          Ask:
            node_type: llm
            event_triggers: [START]
            prompt: "Say hi"
            outputfield: answer
        """)
    assert (code, severity, node, line) == ("SOE012", "warning", "Ask", 6)
    assert message == "unknown key 'outputfield' is ignored by llm nodes"
    assert hint == "did you mean 'output_field'?"


def test_keys_are_known_per_node_type():
    findings = codes("""\
        wf:
          Run:
            node_type: tool
            event_triggers: [START]
            tool_name: soe_get_context
            prompt: "tools have no prompt"
            event_emissions:
              - signal_name: DONE
          Spawn:
            node_type: child
            event_triggers: [DONE]
            child_workflow_name: wf
            child_initial_signals: [START]
            fan_out_feild: items
        """)
    assert [(node, message.split("'")[1]) for _, _, node, message, _, _ in findings] == [
        ("Run", "prompt"), ("Spawn", "fan_out_feild")]
    assert findings[1][4] == "did you mean 'fan_out_field'?"


def test_an_unknown_emission_key_makes_the_emission_unconditional():
    [(_, severity, _, message, hint, _)] = codes("""\
        wf:
          A:
            node_type: router
            event_triggers: [START]
            event_emissions:
              - signal_name: GO
                when: "{{ context.x }}"
        """)
    assert severity == "warning" and "always fires" in message
    assert "condition" in hint


def test_a_misspelled_top_level_key_of_the_combined_shape():
    [(_, severity, node, message, hint, line)] = codes("""\
        workflows:
          wf:
            A:
              node_type: router
              event_triggers: [START]
              event_emissions:
                - signal_name: DONE
        identites:
          helper: "Be kind."
        """)
    assert (severity, node, line) == ("warning", None, 8)
    assert message.startswith("unknown top-level key 'identites' is ignored")
    assert hint == "did you mean 'identities'?"


def test_llm_keys_without_a_close_spelling_are_information_and_custom_types_are_skipped():
    findings = codes("""\
        wf:
          Ask:
            node_type: llm
            event_triggers: [START]
            prompt: "Say hi"
            reasoning_budget: 2
          Mine:
            node_type: _custom
            event_triggers: [START]
            anything: goes
        """)
    assert [(severity, node) for _, severity, node, _, _, _ in findings] == [("info", "Ask")]


def test_every_key_the_engine_reads_is_known():
    assert codes("""\
        workflows:
          wf:
            Ask:
              node_type: agent
              event_triggers: [START]
              prompt: "Do it"
              tools: [soe_get_context]
              output_field: answer
              identity: helper
              retries: 2
              max_iterations: 5
              llm_failure_signal: FAILED
              model: small
              temperature: 0
              max_tokens: 50
              top_p: 1
              seed: 7
              stop: ["END"]
              llm_options: {logprobs: true}
              exclusive_signals: true
              event_emissions:
                - signal_name: DONE
                  condition: "{{ true }}"
        identities:
          helper: "Be kind."
        context_schema:
          answer: string
        limits: {max_steps: 10}
        """) == []
