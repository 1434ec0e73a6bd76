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
