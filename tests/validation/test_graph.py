"""Mermaid and DOT renderings of the signal graph (soe.validation.graph)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from soe.validation.graph import build_graph, to_dot, to_mermaid

CONFIG = """\
workflows:
  main:
    Route:
      node_type: router
      event_triggers: [START]
      event_emissions:
        - signal_name: ASK
          condition: "{{ context.question is defined and context.question != '' }}"
        - signal_name: SKIP
    Ask:
      node_type: llm
      event_triggers: [ASK]
      prompt: 'Say "hi" to {{ context.question }}'
      output_field: answer
      llm_failure_signal: LLM_FAILED
      event_emissions:
        - signal_name: ANSWERED
    Sub:
      node_type: child
      event_triggers: [ANSWERED]
      child_workflow_name: sub
      child_initial_signals: [BEGIN]
      signals_to_parent: [SUB_DONE]
    Finish:
      node_type: tool
      tool_name: finish
      event_triggers: [SUB_DONE, SKIP, LLM_FAILED]
      event_emissions:
        - signal_name: DONE
  sub:
    Summarise:
      node_type: llm
      event_triggers: [BEGIN]
      prompt: "Summarise"
      event_emissions:
        - signal_name: SUB_DONE
"""


def edges(text: str) -> set[tuple[str, str, str, str]]:
    """``(source, arrow, label, target)`` of every Mermaid edge line."""
    pattern = re.compile(r'^\s+(\S+) (-->|-\.->)\|"(.*)"\| (\S+)$')
    return {m.groups() for m in map(pattern.match, text.splitlines()) if m}  # type: ignore[misc]


def test_mermaid_structure() -> None:
    text = to_mermaid(CONFIG)
    assert text.startswith("flowchart TD\n")
    assert '    subgraph w0["main"]' in text and '    subgraph w1["sub"]' in text
    assert text.count("\n    end\n") == 2
    assert '        w0_n0{"Route<br/>(router)"}' in text
    assert '        w0_n1("Ask<br/>(llm)")' in text
    assert '        w0_n2[["Sub<br/>(child)"]]' in text
    assert '        w0_n3["Finish<br/>(tool)"]' in text
    assert '        w0_start(("start"))' in text


def test_mermaid_edges() -> None:
    found = edges(to_mermaid(CONFIG))
    assert ("w0_start", "-->", "START", "w0_n0") in found
    assert ("w0_n0", "-->", "ASK if {{ context.question is defined…", "w0_n1") in found
    assert ("w0_n0", "-->", "SKIP", "w0_n3") in found
    assert ("w0_n1", "-->", "ANSWERED", "w0_n2") in found
    assert ("w0_n1", "-.->", "LLM_FAILED (on failure)", "w0_n3") in found
    assert ("w0_n2", "-.->", "child: BEGIN", "w1_start") in found
    assert ("w1_start", "-->", "BEGIN", "w1_n0") in found
    assert ("w1_n0", "-.->", "SUB_DONE (to parent)", "w0_n3") in found
    assert ("w0_n3", "-->", "DONE", "w0_end") in found
    assert len(found) == 9


def test_condition_labels_are_abbreviated_to_30_characters() -> None:
    (label,) = [e.label for e in build_graph(CONFIG).edges if e.label.startswith("ASK")]
    condition = label.removeprefix("ASK if ")
    assert condition.endswith("…") and len(condition) == 31


def test_mermaid_escapes_quotes_and_markup() -> None:
    config = {"w\"1": {"Say \"hi\" <b>": {"node_type": "router", "event_triggers": ["START"],
                                          "event_emissions": [{"signal_name": "A#B"}]}}}
    text = to_mermaid(config)
    assert 'subgraph w0["w#quot;1"]' in text
    assert 'w0_n0{"Say #quot;hi#quot; #60;b#62;<br/>(router)"}' in text
    assert '-->|"A#35;B"| w0_end' in text


def test_dot_structure_and_escaping() -> None:
    text = to_dot(CONFIG)
    assert text.startswith("digraph soe {\n") and text.rstrip().endswith("}")
    assert 'subgraph "cluster_w0" {' in text and 'subgraph "cluster_w1" {' in text
    assert 'label="main";' in text and 'label="sub";' in text
    assert '"w0_n0" [label="Route\\n(router)", shape=diamond];' in text
    assert '"w0_start" -> "w0_n0" [label="START"];' in text
    assert '"w0_n2" -> "w1_start" [label="child: BEGIN", style=dashed];' in text
    assert '"w1_n0" -> "w0_n3" [label="SUB_DONE (to parent)", style=dashed];' in text
    quoted = to_dot({"m": {'A "x" \\ y': {"node_type": "tool", "event_triggers": ["START"],
                                          "tool_name": "t"}}})
    assert '"w0_n0" [label="A \\"x\\" \\\\ y\\n(tool)", shape=box];' in quoted


def test_workflows_only_shape_and_parsed_config() -> None:
    parsed = yaml.safe_load(CONFIG)["workflows"]
    assert to_mermaid(parsed) == to_mermaid(CONFIG)
    assert to_dot(parsed) == to_dot(CONFIG)


def test_custom_initial_signals_and_missing_child() -> None:
    config = {"main": {"Go": {"node_type": "router", "event_triggers": ["KICK"],
                              "event_emissions": [{"signal_name": "DONE"}]},
                       "Kid": {"node_type": "child", "event_triggers": ["DONE"],
                               "child_workflow_name": "missing", "child_initial_signals": ["S"]}}}
    assert ("w0_start", "-->", "KICK", "w0_n0") in edges(to_mermaid(config, ["KICK"]))
    default = to_mermaid(config)
    assert "w0_start" not in default  # nothing listens to START
    assert ("w0_n0", "-->", "DONE", "w0_n1") in edges(default)


def test_invalid_or_empty_config_renders_an_empty_chart() -> None:
    assert to_mermaid("- just\n- a list\n") == "flowchart TD\n"
    assert to_dot({}) == "digraph soe {\n    compound=true;\n    rankdir=TB;\n}\n"


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' binary not installed")
def test_dot_output_parses_with_graphviz() -> None:
    result = subprocess.run(["dot", "-Tsvg"], input=to_dot(CONFIG), capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
