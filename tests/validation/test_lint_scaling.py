"""Validation and lint do work linear in the config's size (issue 13, item 12).

Measured by counting Python function calls (deterministic, unlike time): a
config twice as large may cost about twice as many calls, not four times.
"""

from __future__ import annotations

import sys

import pytest
import yaml

from soe.validation import validate_config
from soe.validation.lint import lint_config


def chain(nodes: int) -> str:
    workflow = {f"N{i}": {"node_type": "router", "event_triggers": [f"S{i}"],
                          "event_emissions": [{"signal_name": f"S{i + 1}",
                                               "condition": "{{ context.x is defined }}"}]}
                for i in range(nodes)}
    workflow["Tool"] = {"node_type": "tool", "event_triggers": ["S0"], "tool_name": "t", "output_field": "y",
                        "parameters": {"q": "{{ context.missing }}"}}
    return yaml.safe_dump({"wf": workflow})


def calls(function, text: str) -> int:
    count = 0

    def profile(frame, event, arg):  # noqa: ARG001 - the profiler's signature
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        function(text)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.slow
def test_lint_is_linear():
    small, large = calls(lint_config, chain(300)), calls(lint_config, chain(600))
    assert large < 2.3 * small, (small, large)


def test_validate_config_is_linear():
    small, large = calls(validate_config, chain(300)), calls(validate_config, chain(600))
    assert large < 2.3 * small, (small, large)


def wide(nodes: int) -> str:
    """Many prompts reading one missing field, many child nodes reporting to listeners: many findings."""
    workflow = {}
    for i in range(nodes):
        workflow[f"Ask{i}"] = {"node_type": "llm", "event_triggers": [f"P{i}"], "output_field": f"out{i}",
                               "prompt": "{{ context.missing }}", "event_emissions": [{"signal_name": f"Q{i}"}]}
        workflow[f"Kid{i}"] = {"node_type": "child", "event_triggers": [f"Q{i}"], "child_workflow_name": "sub",
                               "child_initial_signals": ["GO"], "signals_to_parent": [f"P{i + 1}"]}
    sub = {"Go": {"node_type": "router", "event_triggers": ["GO"], "event_emissions": [{"signal_name": "DONE"}]}}
    return yaml.safe_dump({"wf": workflow, "sub": sub})


def test_lint_with_many_findings_is_linear():
    """Each finding's suggestion and each listener lookup must not scan the whole workflow again."""
    small, large = calls(lint_config, wide(200)), calls(lint_config, wide(400))
    assert large < 2.3 * small, (small, large)


def test_lint_parses_the_text_once(monkeypatch):
    from soe.lib import yaml_parser

    loaders = []
    real = yaml_parser._Loader

    def counting(text):
        loaders.append(text)
        return real(text)

    monkeypatch.setattr(yaml_parser, "_Loader", counting)
    findings = lint_config(wide(3))
    assert findings and len(loaders) == 1
