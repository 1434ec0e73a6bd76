"""Node configs from a registry snapshot are checked once; anything mutable every time."""

from __future__ import annotations

import pytest

from soe._errors import WorkflowValidationError
from soe.lib.snapshot import freeze
from soe.nodes.router.validation import validate_node_config
from soe.validation.nodes.rules import validate_once


def counting(calls: list[object]):
    def validate(config):
        calls.append(config)
        validate_node_config(config)
    return validate


def test_a_snapshot_config_is_checked_once():
    calls: list[object] = []
    validate = counting(calls)
    config = freeze({"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "GO"}]})
    for _ in range(3):
        validate_once(validate, config)
    assert calls == [config]
    validate_once(validate, freeze(dict(config)))  # another snapshot is checked on its own
    assert len(calls) == 2


def test_a_plain_config_is_checked_every_time():
    calls: list[object] = []
    validate = counting(calls)
    config = {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "GO"}]}
    validate_once(validate, config)
    config["event_triggers"] = "START"  # changed in place after passing once
    with pytest.raises(WorkflowValidationError, match="event_triggers"):
        validate_once(validate, config)
    assert len(calls) == 2


def test_a_snapshot_that_fails_is_not_remembered():
    calls: list[object] = []
    validate = counting(calls)
    config = freeze({"node_type": "router", "event_triggers": "START"})
    for _ in range(2):
        with pytest.raises(WorkflowValidationError):
            validate_once(validate, config)
    assert len(calls) == 2
