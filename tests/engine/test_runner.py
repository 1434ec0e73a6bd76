"""The runner: no recursion, step budget, limits (SPEC §4.7, §15)."""

from __future__ import annotations

import pytest
from conftest import events, run

from soe import StepBudgetExceeded, WorkflowValidationError, broadcast_signals, create_all_nodes


def chain(length: int) -> dict:
    workflow = {}
    for i in range(length):
        emit = f"S{i + 1}" if i + 1 < length else "DONE"
        workflow[f"N{i}"] = {"node_type": "router", "event_triggers": [f"S{i}"],
                             "event_emissions": [{"signal_name": emit}]}
    return {"wf": workflow}


def counter_loop() -> dict:
    return {"wf": {
        "Count": {"node_type": "tool", "tool_name": "inc", "event_triggers": ["START", "AGAIN"],
                  "parameters": {"n": "{{ context.n }}"}, "output_field": "n",
                  "event_emissions": [{"signal_name": "CHECK"}]},
        "Check": {"node_type": "router", "event_triggers": ["CHECK"], "event_emissions": [
            {"signal_name": "AGAIN", "condition": "{{ context.n | int < context.target }}"},
            {"signal_name": "DONE", "condition": "{{ context.n | int >= context.target }}"}]},
    }}


@pytest.mark.slow
def test_long_chain_runs_in_constant_stack(backends):
    eid = run(chain(100_000), backends, signals=["S0"])
    op = backends.context.get_context(eid)["__operational__"]
    assert len(op["nodes"]) == 100_000
    assert op["signals"][-1] == "DONE" and len(op["signals"]) == 100_001


@pytest.mark.slow
def test_tool_router_loop_of_10000_iterations(backends):
    eid = run(counter_loop(), backends, context={"n": 0, "target": 10_000},
              tools={"inc": lambda n: int(n) + 1})
    ctx = backends.context.get_context(eid)
    assert ctx["n"][-1] == 10_000 and len(ctx["n"]) == 10_001
    assert ctx["__operational__"]["nodes"] == {"Count": 10_000, "Check": 10_000}
    assert ctx["__operational__"]["signals"][-1] == "DONE"


def loop_forever() -> dict:
    return {"wf": {"Spin": {"node_type": "router", "event_triggers": ["START", "SPIN"],
                            "event_emissions": [{"signal_name": "SPIN"}]}}}


def test_step_budget_stops_an_endless_loop(backends):
    with pytest.raises(StepBudgetExceeded) as info:
        run(loop_forever(), backends, max_steps=50, execution_id="spin")
    err = info.value
    assert str(err) == "Step budget of 50 node runs exceeded in execution 'spin' (main execution 'spin')"
    assert (err.execution_id, err.main_execution_id, err.max_steps, err.steps) == ("spin", "spin", 50, 50)
    op = backends.context.get_context("spin")["__operational__"]
    assert op["nodes"] == {"Spin": 50}
    assert events(backends, "spin", "step_budget_exceeded")[0]["context"] == {"max_steps": 50, "steps": 50}
    assert "steps" not in op


def test_step_budget_from_config_limits_and_argument_precedence(backends):
    config = {"limits": {"max_steps": 10}, **loop_forever()}
    with pytest.raises(StepBudgetExceeded) as info:
        run(config, backends, workflow="wf")
    assert info.value.max_steps == 10
    with pytest.raises(StepBudgetExceeded) as info:
        run(config, backends, workflow="wf", max_steps=3)
    assert info.value.max_steps == 3


@pytest.mark.slow
def test_default_budget_is_100000(backends):
    with pytest.raises(StepBudgetExceeded) as info:
        run(loop_forever(), backends)
    assert info.value.max_steps == 100_000


def test_budget_applies_per_call_and_is_remembered_for_later_broadcasts(backends):
    config = {"limits": {"max_steps": 5}, "wf": {
        "A": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "DONE"}]},
        "Spin": loop_forever()["wf"]["Spin"] | {"event_triggers": ["SPIN"]},
    }}
    nodes, _ = create_all_nodes(backends)
    eid = run(config, backends, workflow="wf")
    with pytest.raises(StepBudgetExceeded) as info:
        broadcast_signals(eid, ["SPIN"], nodes, backends)
    assert info.value.max_steps == 5


def test_limits_is_not_a_workflow(backends):
    with pytest.raises(WorkflowValidationError):
        run({"limits": {"max_steps": 0}, **loop_forever()}, backends, workflow="wf")
    with pytest.raises(WorkflowValidationError) as info:
        run({"limits": {"max_steps": 10}, **chain(1)}, backends, workflow="limits")
    assert "not found in config" in str(info.value)


def test_missing_node_type_caller_raises_key_error(backends):
    config = {"wf": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "hi"}}}
    with pytest.raises(KeyError) as info:
        run(config, backends)
    assert info.value.args == ("llm",)


def test_failure_drops_the_rest_of_the_queue(backends):
    def boom(eid, cfg):
        raise RuntimeError("custom node failed")

    nodes, broadcast = create_all_nodes(backends)
    nodes["_boom"] = boom
    config = {"wf": {
        "Bad": {"node_type": "_boom", "event_triggers": ["START"]},
        "Later": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "L"}]},
    }}
    from soe import orchestrate

    with pytest.raises(RuntimeError, match="custom node failed"):
        orchestrate(config, "wf", ["START"], {}, backends, broadcast, execution_id="e1")
    assert backends.context.get_context("e1")["__operational__"]["nodes"] == {"Bad": 1}
    # the next call on the same execution starts from an empty queue
    nodes["_boom"] = lambda eid, cfg: None
    broadcast("e1", ["START"])
    assert backends.context.get_context("e1")["__operational__"]["nodes"] == {"Bad": 2, "Later": 1}


def test_a_custom_node_caller_gets_its_own_changeable_config(backends):
    """Upstream handed each call a fresh dict; a caller that changes it must not break or leak."""
    from soe import orchestrate

    seen: list[dict] = []

    def mutating(eid, cfg):
        seen.append(dict(cfg))
        cfg["event_triggers"] = ["CHANGED"]
        cfg.pop("name")

    nodes, broadcast = create_all_nodes(backends)
    nodes["_mutating"] = mutating
    config = {"wf": {"Custom": {"node_type": "_mutating", "event_triggers": ["START"], "size": 1}}}
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    broadcast(eid, ["START"])
    expected = {"node_type": "_mutating", "event_triggers": ["START"], "size": 1, "name": "Custom"}
    assert seen == [expected, expected]


def test_node_configs_of_a_snapshot_are_validated_once(backends, monkeypatch):
    """Each activation checks its config (SPEC §13.3), but a registry snapshot cannot change."""
    from soe.nodes.router import factory

    checked: list[str] = []
    original = factory.validate_node_config

    def counting(config):
        checked.append(config["name"])
        original(config)

    monkeypatch.setattr(factory, "validate_node_config", counting)
    eid = run(chain(3), backends, signals=["S0"])
    broadcast_signals_caller = create_all_nodes(backends)[1]
    broadcast_signals_caller(eid, ["S0"])
    assert checked == ["N0", "N1", "N2"]
