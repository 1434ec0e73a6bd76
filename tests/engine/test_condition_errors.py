"""A condition that raises does not fire (SPEC §6.2) and says so: a ``condition_error`` event (§15)."""

from __future__ import annotations

from conftest import events, run

from soe.llm import echo


def emission(signal: str, condition: str) -> dict:
    return {"signal_name": signal, "condition": condition}


def test_router_condition_that_raises_is_an_event_and_does_not_fire(backends):
    config = {"wf": {"Check": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [
        emission("BIG", "{{ context.amount > 100 }}"), emission("ANY", "{{ true }}")]}}}
    eid = run(config, backends, context={"amount": "500"})
    [event] = [e["context"] for e in events(backends, eid, "condition_error")]
    assert event["node_name"] == "Check" and event["signal_name"] == "BIG"
    assert event["error"] == "'>' not supported between instances of 'str' and 'int'"
    operational = backends.context.get_context(eid)["__operational__"]
    assert operational["signals"] == ["START", "ANY"]
    assert operational["errors"] == 0  # additive: no counter changes


def test_false_and_undefined_conditions_are_not_errors(backends):
    config = {"wf": {"Check": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [
        emission("NO", "{{ false }}"), emission("UNDEFINED", "{{ context.missing }}")]}}}
    eid = run(config, backends)
    assert events(backends, eid, "condition_error") == []


def test_tool_and_llm_conditions_report_too(backends):
    config = {"wf": {
        "Get": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "count",
                "event_emissions": [emission("TOOL_OK", "{{ result / 0 }}")]},
        "Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "hi", "output_field": "answer",
                "event_emissions": [emission("LLM_OK", "{{ context.answer + 1 }}")]},
    }}
    eid = run(config, backends, call_llm=echo(), tools={"count": lambda: 3})
    found = {(e["context"]["node_name"], e["context"]["signal_name"])
             for e in events(backends, eid, "condition_error")}
    assert found == {("Get", "TOOL_OK"), ("Ask", "LLM_OK")}
