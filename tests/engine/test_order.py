"""Depth-first order from a queue (SPEC §4.2, §4.7)."""

from __future__ import annotations

from conftest import run

from soe import broadcast_signals, create_all_nodes


def router(triggers, *signals, condition=None):
    emissions = [{"signal_name": s} if condition is None else {"signal_name": s, "condition": condition}
                 for s in signals]
    return {"node_type": "router", "event_triggers": triggers, "event_emissions": emissions}


def test_spec_depth_first_example(backends):
    seen = []
    config = {"wf": {
        "A": router(["START"], "GO", "ALWAYS"),
        "B": router(["GO", "ALWAYS"], "DONE"),
        "C": router(["ALWAYS"], "C_DONE"),
    }}
    eid = run(config, backends)
    op = backends.context.get_context(eid)["__operational__"]
    assert op["signals"] == ["START", "GO", "ALWAYS", "DONE", "C_DONE"]
    assert op["nodes"] == {"A": 1, "B": 1, "C": 1}
    seen = [e["context"]["node_name"] for e in backends.telemetry.get_events(eid)
            if e["event_type"] == "node_execution" and "node_name" in e["context"]]
    assert seen == ["A", "B", "C"]


def test_nested_emissions_run_before_outer_listeners(backends):
    config = {"wf": {
        "First": router(["START"], "DEEP"),
        "Second": router(["START"], "AFTER"),
        "Deep": router(["DEEP"], "DEEPER"),
        "Deeper": router(["DEEPER"], "BOTTOM"),
    }}
    eid = run(config, backends)
    signals = backends.context.get_context(eid)["__operational__"]["signals"]
    assert signals == ["START", "DEEP", "DEEPER", "BOTTOM", "AFTER"]


def test_signals_without_listeners_are_recorded(backends):
    eid = run({"wf": {"A": router(["START"], "NOBODY", "LISTENS")}}, backends)
    assert backends.context.get_context(eid)["__operational__"]["signals"] == ["START", "NOBODY", "LISTENS"]


def test_node_runs_once_per_broadcast_even_if_several_triggers_match(backends):
    config = {"wf": {"A": router(["START"], "X", "Y"), "B": router(["X", "Y"], "B_DONE")}}
    eid = run(config, backends)
    assert backends.context.get_context(eid)["__operational__"]["nodes"]["B"] == 1


def test_external_broadcast_to_finished_execution_runs_again(backends):
    config = {"wf": {"A": router(["START"], "DONE"), "Approve": router(["APPROVED"], "SHIPPED")}}
    nodes, broadcast = create_all_nodes(backends)
    eid = run(config, backends)
    broadcast_signals(eid, ["APPROVED"], nodes, backends)
    broadcast(eid, ["APPROVED"])
    assert backends.context.get_context(eid)["__operational__"]["signals"] == [
        "START", "DONE", "APPROVED", "SHIPPED", "APPROVED", "SHIPPED"]


def test_custom_underscore_node_type(backends):
    calls = []
    nodes, broadcast = create_all_nodes(backends)
    nodes["_echo"] = lambda eid, cfg: calls.append((eid, cfg["name"], cfg["greeting"]))
    from soe import orchestrate

    config = {"wf": {"Custom": {"node_type": "_echo", "event_triggers": ["START"], "greeting": "hi"}}}
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    assert calls == [(eid, "Custom", "hi")]
    assert backends.context.get_context(eid)["__operational__"]["nodes"] == {"Custom": 1}
