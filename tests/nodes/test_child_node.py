"""The child node (SPEC §3.3, §4.2 step 5, §4.3, §4.4, §4.7, §5.5, Q9, Q10, Q16)."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
from conftest import events

from soe import create_all_nodes, orchestrate
from soe.registry import inject_node


def child(workflow: str, triggers: list[str] | None = None, **keys: Any) -> dict:
    return {"node_type": "child", "event_triggers": triggers or ["START"], "child_workflow_name": workflow,
            "child_initial_signals": keys.pop("signals", ["START"]), **keys}


def router(triggers: list[str], *emit: str) -> dict:
    return {"node_type": "router", "event_triggers": triggers, "event_emissions": [{"signal_name": s} for s in emit]}


def tool(name: str, triggers: list[str], output: str | None = None, **keys: Any) -> dict:
    node = {"node_type": "tool", "event_triggers": triggers, "tool_name": name, **keys}
    if output:
        node["output_field"] = output
    return node


def spy(triggers: list[str] | None = None, **keys: Any) -> dict:
    return {"node_type": "_spy", "event_triggers": triggers or ["START"], **keys}


class Tree:
    """Node callers with a ``_spy`` node type that records (execution id, node name, stored context)."""

    def __init__(self, backends: Any, tools: dict | None = None, call_llm: Any = None):
        self.backends = backends
        self.seen: list[tuple[str, str, dict]] = []
        self.times: list[float] = []
        self.nodes, self.broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=tools or {})
        self.nodes["_spy"] = self._spy

    def _spy(self, execution_id: str, node_config: dict) -> None:
        self.times.append(time.monotonic())
        self.seen.append((execution_id, node_config["name"], self.backends.context.get_context(execution_id)))
        if node_config.get("emit"):
            self.broadcast(execution_id, list(node_config["emit"]))

    def run(self, config: Any, workflow: str, context: dict | None = None, signals: list[str] | None = None,
            **kwargs: Any) -> str:
        return orchestrate(config, workflow, signals or ["START"], context or {}, self.backends, self.broadcast,
                           **kwargs)

    def ids(self, name: str) -> list[str]:
        return [eid for eid, node, _ in self.seen if node == name]

    def ctx(self, eid: str) -> dict:
        return self.backends.context.get_context(eid)

    def fields(self, eid: str) -> dict:
        return {k: v for k, v in self.ctx(eid).items() if not k.startswith("__")}

    def signals(self, eid: str) -> list[str]:
        return self.ctx(eid)["__operational__"]["signals"]


CONST = {"const": lambda value: value}


# --- the child's context (§3.3, §5.5 step 2) --------------------------------------------------


def test_child_context_has_parent_and_current_values_of_input_fields(backends):
    tree = Tree(backends, tools=CONST)
    config = {
        "main": {
            "Rewrite": tool("const", ["START"], "a", parameters={"value": "second"}),
            "Spawn": child("sub", input_fields=["a", "data", "missing", "__meta"],
                           signals_to_parent=["X"], context_updates_to_parent=["y"]),
        },
        "sub": {"Spy": spy()},
    }
    eid = tree.run(config, "main", {"a": "first", "data": {"k": [1, 2]}, "other": 1, "__meta": {"raw": True}})
    [(child_id, _, stored)] = tree.seen
    assert child_id != eid
    assert stored == {
        "a": ["second"],
        "data": [{"k": [1, 2]}],
        "__meta": {"raw": True},
        "__parent__": {"parent_execution_id": eid, "signals_to_parent": ["X"],
                       "context_updates_to_parent": ["y"], "main_execution_id": eid},
        "__operational__": {"signals": ["START"], "nodes": {"Spy": 1}, "llm_calls": 0, "tool_calls": 0,
                            "errors": 0, "main_execution_id": eid},
    }
    assert list(stored)[-1] == "__operational__"


def test_parent_defaults_are_empty_lists(backends):
    tree = Tree(backends)
    eid = tree.run({"main": {"Spawn": child("sub")}, "sub": {"Spy": spy()}}, "main", {"a": 1})
    [(_, _, stored)] = tree.seen
    assert stored["__parent__"] == {"parent_execution_id": eid, "signals_to_parent": [],
                                    "context_updates_to_parent": [], "main_execution_id": eid}
    assert "a" not in stored  # only input_fields are passed


def test_list_input_is_wrapped_and_child_writes_stay_in_the_child(backends):
    tree = Tree(backends, tools=CONST)
    config = {"main": {"Spawn": child("sub", input_fields=["items"])},
              "sub": {"Write": tool("const", ["START"], "items", parameters={"value": [9]},
                                    event_emissions=[{"signal_name": "WROTE"}]),
                      "Spy": spy(["WROTE"])}}
    eid = tree.run(config, "main", {"items": [1, 2]})
    [(child_id, _, stored)] = tree.seen
    assert stored["items"] == [[1, 2], [9]]
    assert tree.fields(eid) == {"items": [[1, 2]]}


def test_child_gets_its_own_registry_workflow_name_and_telemetry(backends):
    tree = Tree(backends)
    config = {"main": {"Spawn": child("sub", signals=["GO", "ALSO"])}, "sub": {"Spy": spy(["GO"])}}
    eid = tree.run(config, "main")
    [child_id] = tree.ids("Spy")
    wf = backends.workflow
    assert wf.get_workflows_registry(child_id) == wf.get_workflows_registry(eid) == config
    assert wf.get_current_workflow_name(child_id) == "sub"
    assert wf.get_current_workflow_name(eid) == "main"
    assert [(e["event_type"], e["context"]) for e in events(backends, child_id)][:3] == [
        ("orchestration_start", {"workflow_name": "sub"}),
        ("signals_broadcast", {"signals": ["GO", "ALSO"]}),
        ("node_execution", {"node_name": "Spy", "node_type": "_spy"}),
    ]
    assert [(e["event_type"], e["context"]) for e in events(backends, eid)] == [
        ("orchestration_start", {"workflow_name": "main"}),
        ("signals_broadcast", {"signals": ["START"]}),
        ("node_execution", {"node_name": "Spawn", "node_type": "child"}),
        ("node_execution", {"node_type": "child", "child_workflow": "sub", "parent_id": eid}),
    ]
    inject_node(child_id, "sub", "Extra", router(["X"], "Y"), backends)
    assert "Extra" in wf.get_workflows_registry(child_id)["sub"]
    assert "Extra" not in wf.get_workflows_registry(eid)["sub"]
    assert tree.ctx(eid)["__operational__"]["nodes"] == {"Spawn": 1}


def test_grandchildren_point_to_their_parent_and_the_root(backends):
    tree = Tree(backends)
    config = {"root": {"Spawn": child("mid")},
              "mid": {"Spy": spy(), "Spawn": child("leaf")},
              "leaf": {"Spy": spy()}}
    root = tree.run(config, "root")
    [(mid, _, mid_ctx), (leaf, _, leaf_ctx)] = tree.seen
    assert mid_ctx["__parent__"]["parent_execution_id"] == root
    assert leaf_ctx["__parent__"] == {"parent_execution_id": mid, "signals_to_parent": [],
                                      "context_updates_to_parent": [], "main_execution_id": root}
    assert tree.ctx(leaf)["__operational__"]["main_execution_id"] == root
    assert tree.ctx(mid)["__operational__"]["main_execution_id"] == root


# --- signals to parent (§4.2 step 5, §4.3) ----------------------------------------------------


def test_signals_to_parent_cross_after_the_childs_own_listeners(backends):
    tree = Tree(backends)
    config = {
        "main": {"Spawn": child("sub", signals_to_parent=["DONE"]),
                 "Got": router(["DONE"], "PARENT_GOT"),
                 "Sibling": router(["START"], "SIBLING")},
        "sub": {"Start": router(["START"], "DONE", "ALSO", "DONE"),
                "Listener": router(["DONE"], "CHILD_AFTER"),
                "Spy": spy(["CHILD_AFTER"])},
    }
    eid = tree.run(config, "main")
    [child_id] = tree.ids("Spy")
    assert tree.signals(child_id) == ["START", "DONE", "ALSO", "DONE", "CHILD_AFTER"]
    assert tree.signals(eid) == ["START", "DONE", "DONE", "PARENT_GOT", "SIBLING"]
    assert [e["context"] for e in events(backends, child_id, "signals_to_parent")] == [
        {"signals": ["DONE", "DONE"], "parent_id": eid}]
    assert tree.ctx(eid)["__operational__"]["nodes"] == {"Spawn": 1, "Got": 1, "Sibling": 1}
    # the child's telemetry has the listener's broadcast before signals_to_parent
    child_events = [e["event_type"] for e in events(backends, child_id)]
    assert child_events.index("signals_to_parent") > max(
        i for i, e in enumerate(events(backends, child_id))
        if e["event_type"] == "signals_broadcast" and e["context"]["signals"] == ["CHILD_AFTER"])


def test_unlisted_signals_stay_in_the_child(backends):
    tree = Tree(backends)
    config = {"main": {"Spawn": child("sub", signals_to_parent=["UP"]), "Any": router(["LOCAL"], "LEAKED")},
              "sub": {"Start": router(["START"], "LOCAL")}}
    eid = tree.run(config, "main")
    assert tree.signals(eid) == ["START"]


def test_signals_climb_through_grandchildren_while_each_level_lists_them(backends):
    tree = Tree(backends)
    config = {
        "root": {"Spawn": child("mid", signals_to_parent=["UP"]), "RootUp": router(["UP"], "ROOT_GOT_UP"),
                 "RootLeaf": router(["LEAF_ONLY"], "LEAKED")},
        "mid": {"Spy": spy(), "Spawn": child("leaf", signals_to_parent=["UP", "LEAF_ONLY"]),
                "MidUp": router(["UP"], "MID_GOT_UP")},
        "leaf": {"Spy": spy(), "Emit": router(["START"], "UP", "LEAF_ONLY")},
    }
    root = tree.run(config, "root")
    [mid, leaf] = tree.ids("Spy")
    assert tree.signals(leaf) == ["START", "UP", "LEAF_ONLY"]
    assert tree.signals(mid) == ["START", "UP", "LEAF_ONLY", "MID_GOT_UP"]
    assert tree.signals(root) == ["START", "UP", "ROOT_GOT_UP"]
    assert [e["context"] for e in events(backends, leaf, "signals_to_parent")] == [
        {"signals": ["UP", "LEAF_ONLY"], "parent_id": mid}]
    assert [e["context"] for e in events(backends, mid, "signals_to_parent")] == [
        {"signals": ["UP"], "parent_id": root}]


def test_child_event_emissions_are_never_emitted(backends):
    tree = Tree(backends)
    config = {"main": {"Spawn": child("sub", event_emissions=[{"signal_name": "CHILD_EMIT"}]),
                       "Never": router(["CHILD_EMIT"], "WRONG")},
              "sub": {"Spy": spy()}}
    eid = tree.run(config, "main")
    assert tree.signals(eid) == ["START"]
    assert len(tree.seen) == 1


# --- context updates to parent (§4.4, Q16) ----------------------------------------------------


def test_parent_gains_exactly_the_values_the_child_wrote(backends):
    tree = Tree(backends, tools=CONST)
    config = {"main": {"Spawn": child("sub", input_fields=["x"], context_updates_to_parent=["x"])},
              "sub": {"Two": tool("const", ["START"], "x", parameters={"value": 2},
                                  event_emissions=[{"signal_name": "NEXT"}]),
                      "Three": tool("const", ["NEXT"], "x", parameters={"value": 3}),
                      "Other": tool("const", ["START"], "unlisted", parameters={"value": "no"})}}
    eid = tree.run(config, "main", {"x": 1})
    assert tree.fields(eid) == {"x": [1, 2, 3]}


def test_updates_climb_while_each_level_lists_the_field(backends):
    tree = Tree(backends, tools=CONST)
    config = {"root": {"Spawn": child("mid", context_updates_to_parent=["both"])},
              "mid": {"Spy": spy(), "Spawn": child("leaf", context_updates_to_parent=["both", "mid_only"])},
              "leaf": {"Spy": spy(),
                       "Both": tool("const", ["START"], "both", parameters={"value": "b"}),
                       "MidOnly": tool("const", ["START"], "mid_only", parameters={"value": "m"}),
                       "Nothing": tool("const", ["START"], "leaf_only", parameters={"value": "l"})}}
    root = tree.run(config, "root")
    [mid, leaf] = tree.ids("Spy")
    assert tree.fields(leaf) == {"both": ["b"], "mid_only": ["m"], "leaf_only": ["l"]}
    assert tree.fields(mid) == {"both": ["b"], "mid_only": ["m"]}
    assert tree.fields(root) == {"both": ["b"]}


def test_llm_output_and_tool_failure_are_sent_up(backends):
    def broken():
        raise ValueError("tool broke")

    tree = Tree(backends, tools={"broken": broken}, call_llm=lambda messages, response_model: '{"answer": 42}')
    config = {"main": {"Spawn": child("sub", context_updates_to_parent=["answer", "error"])},
              "sub": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "Q",
                              "output_field": "answer"},
                      "Fail": tool("broken", ["START"], "error")}}
    eid = tree.run(config, "main")
    assert tree.fields(eid) == {"answer": [42], "error": ["tool broke"]}


# --- fan-out (§5.5 step 4, Q10) ----------------------------------------------------------------

DOUBLE = {"double": lambda n: int(n) * 2}


def fan_out_config(**keys: Any) -> dict:
    return {"main": {"Spawn": child("sub", fan_out_field="items", child_input_field="item",
                                    input_fields=["shared"], context_updates_to_parent=["result"], **keys)},
            "sub": {"Spy": spy(),
                    "Double": tool("double", ["START"], "result", parameters={"n": "{{ context.item }}"})}}


def test_fan_out_over_a_list_spawns_one_child_per_element(backends):
    tree = Tree(backends, tools=DOUBLE)
    eid = tree.run(fan_out_config(), "main", {"items": [10, 20, 30], "shared": "s"})
    assert [stored["item"] for _, _, stored in tree.seen] == [[10], [20], [30]]
    assert all(stored["shared"] == ["s"] for _, _, stored in tree.seen)
    assert len(set(tree.ids("Spy"))) == 3
    assert tree.fields(eid)["result"] == [20, 40, 60]
    assert len(events(backends, eid, "node_execution")) == 2  # one child node run, however many children


def test_fan_out_over_a_field_written_several_times_spawns_one_child_per_entry(backends):
    tree = Tree(backends, tools={**CONST, **DOUBLE})
    config = fan_out_config()
    config["main"] = {"W1": tool("const", ["START"], "items", parameters={"value": [1, 2]}),
                      "W2": tool("const", ["START"], "items", parameters={"value": 3}),
                      "W3": tool("const", ["START"], "items", parameters={"value": [4]}),
                      **config["main"]}
    tree.run(config, "main")
    assert [stored["item"] for _, _, stored in tree.seen] == [[[1, 2]], [3], [[4]]]


def test_fan_out_of_fifty_items_sends_results_in_order(backends):
    tree = Tree(backends, tools=DOUBLE)
    config = fan_out_config(signals_to_parent=["CHILD_DONE"])
    config["sub"]["Done"] = router(["START"], "CHILD_DONE")
    config["main"]["Count"] = router(["CHILD_DONE"], "COUNTED")
    eid = tree.run(config, "main", {"items": list(range(50))})
    assert tree.fields(eid)["result"] == [2 * i for i in range(50)]
    assert len(set(tree.ids("Spy"))) == 50
    op = tree.ctx(eid)["__operational__"]
    assert op["nodes"]["Count"] == 50
    assert op["signals"] == ["START"] + ["CHILD_DONE", "COUNTED"] * 50


@pytest.mark.parametrize("context", [{}, {"items": []}])
def test_empty_or_missing_fan_out_spawns_no_child(backends, context):
    tree = Tree(backends, tools=DOUBLE)
    config = fan_out_config()
    config["main"]["After"] = router(["START"], "AFTER")
    eid = tree.run(config, "main", context)
    assert tree.seen == []
    assert [(e["event_type"], e["context"]) for e in events(backends, eid)][2:] == [
        ("node_execution", {"node_name": "Spawn", "node_type": "child"}),
        ("node_execution", {"node_type": "child", "child_workflow": "sub", "parent_id": eid}),
        ("child_fan_out_empty", {"node_name": "Spawn", "fan_out_field": "items"}),
        ("node_execution", {"node_name": "After", "node_type": "router"}),
        ("node_execution", {"node_type": "router"}),
        ("signals_broadcast", {"signals": ["AFTER"]}),
    ]
    assert tree.signals(eid) == ["START", "AFTER"]


def test_spawn_interval_spaces_children_but_not_the_first(backends):
    tree = Tree(backends, tools=DOUBLE)
    tree.run(fan_out_config(spawn_interval=0.05), "main", {"items": [1, 2, 3]})
    assert len(tree.times) == 3
    gaps = [later - earlier for earlier, later in zip(tree.times, tree.times[1:], strict=False)]
    assert all(gap >= 0.045 for gap in gaps), gaps


def test_spawn_interval_is_skipped_for_the_first_child(backends):
    tree = Tree(backends)
    config = {"main": {"Spawn": child("sub", spawn_interval=5)}, "sub": {"Spy": spy()}}
    started = time.monotonic()
    tree.run(config, "main")
    assert len(tree.seen) == 1
    assert tree.times[0] - started < 5  # a sleep before the first child would take the full interval


# --- order and depth (§4.3, §4.7) -------------------------------------------------------------


def test_child_nodes_run_to_completion_before_a_sibling_listener(backends):
    tree = Tree(backends)
    config = {
        "main": {"Spawn": child("sub", signals_to_parent=["C_END"]),
                 "Sibling": spy(),
                 "Got": spy(["C_END"])},
        "sub": {"C1": spy(emit=["C_MID"]), "C2": spy(["C_MID"], emit=["C_END"]), "C3": spy(["C_END"])},
    }
    eid = tree.run(config, "main")
    assert [name for _, name, _ in tree.seen] == ["C1", "C2", "C3", "Got", "Sibling"]
    assert tree.signals(eid) == ["START", "C_END"]


def test_a_later_parent_node_sees_what_children_sent_up(backends):
    tree = Tree(backends, tools=DOUBLE)
    config = fan_out_config()
    config["main"]["Check"] = spy()
    eid = tree.run(config, "main", {"items": [1, 2]})
    [(_, _, stored)] = [entry for entry in tree.seen if entry[1] == "Check"]
    assert stored["result"] == [2, 4]
    assert tree.ids("Check") == [eid]


def test_a_chain_of_500_nested_children_completes(backends):
    runs = []

    def inc(d):
        runs.append(d)
        return int(d) + 1

    limit = sys.getrecursionlimit()
    tree = Tree(backends, tools={"inc": inc})
    config = {"link": {
        "Inc": tool("inc", ["START"], "depth", parameters={"d": "{{ context.depth }}"},
                    event_emissions=[{"signal_name": "NEXT", "condition": "{{ result <= 500 }}"},
                                     {"signal_name": "END", "condition": "{{ result > 500 }}"}]),
        "Spawn": child("link", ["NEXT"], input_fields=["depth"], signals_to_parent=["END"]),
        "Spy": spy(["END"]),
    }}
    root = tree.run(config, "link", {"depth": 0})
    assert sys.getrecursionlimit() == limit
    assert len(runs) == 501  # the root and 500 nested children
    ids = tree.ids("Spy")
    assert len(ids) == 501 and ids[-1] == root  # END climbed every level, deepest first
    deepest = tree.ctx(ids[0])
    assert deepest["depth"] == [500, 501]
    assert deepest["__operational__"]["main_execution_id"] == root
    assert tree.signals(root) == ["START", "NEXT", "END"]


def test_a_failure_inside_a_child_propagates_and_drops_the_rest(backends):
    tree = Tree(backends)

    def explode(execution_id, node_config):
        raise ValueError("child failed")

    tree.nodes["_explode"] = explode
    config = {"main": {"Spawn": child("sub"), "Sibling": spy()},
              "sub": {"Boom": {"node_type": "_explode", "event_triggers": ["START"]}, "After": spy()}}
    with pytest.raises(ValueError, match="child failed"):
        tree.run(config, "main", execution_id="root")
    assert tree.seen == []
    assert tree.ctx("root")["__operational__"]["nodes"] == {"Spawn": 1}


def test_external_broadcast_to_a_finished_child_still_reaches_the_parent(backends):
    tree = Tree(backends)
    config = {"main": {"Spawn": child("sub", signals_to_parent=["APPROVED"]),
                       "Ship": router(["APPROVED"], "SHIPPED")},
              "sub": {"Spy": spy(), "Ack": router(["APPROVED"], "ACKED")}}
    eid = tree.run(config, "main")
    [child_id] = tree.ids("Spy")
    tree.broadcast(child_id, ["APPROVED"])
    assert tree.signals(child_id) == ["START", "APPROVED", "ACKED"]
    assert tree.signals(eid) == ["START", "APPROVED", "SHIPPED"]


@pytest.mark.parametrize("kind", ["memory", "files"])
def test_parent_sync_and_fan_out_with_every_backend(tmp_path, kind):
    from soe.local_backends import create_in_memory_backends, create_local_backends

    backends = create_in_memory_backends() if kind == "memory" else create_local_backends(tmp_path)
    tree = Tree(backends, tools={**CONST, **DOUBLE})
    config = fan_out_config()
    config["sub"]["Again"] = tool("const", ["START"], "result", parameters={"value": "x"})
    eid = tree.run(config, "main", {"items": [1, 2], "result": "first"})
    assert tree.fields(eid)["result"] == ["first", 2, "x", 4, "x"]
    assert [stored["item"] for _, _, stored in tree.seen] == [[1], [2]]


def test_children_use_the_roots_step_budget(backends):
    from soe import StepBudgetExceeded

    tree = Tree(backends)
    config = {"limits": {"max_steps": 3},
              "main": {"Spawn": child("sub")},
              "sub": {"A": spy(emit=["B"]), "B": spy(["B"], emit=["C"]), "C": spy(["C"])}}
    with pytest.raises(StepBudgetExceeded) as caught:
        tree.run(config, "main", execution_id="budget-root")
    [child_id] = set(tree.ids("A"))
    assert [name for _, name, _ in tree.seen] == ["A", "B"]
    error = caught.value
    assert (error.execution_id, error.main_execution_id, error.max_steps, error.steps) == (
        child_id, "budget-root", 3, 3)
    assert str(error) == (f"Step budget of 3 node runs exceeded in execution '{child_id}' "
                          "(main execution 'budget-root')")
    assert [e["context"] for e in events(backends, child_id, "step_budget_exceeded")] == [
        {"max_steps": 3, "steps": 3}]
    assert backends.workflow.get_workflows_registry(child_id) == {k: v for k, v in config.items() if k != "limits"}


class AliasingContextBackend:
    """A protocol-only context backend that hands out its stored objects."""

    def __init__(self) -> None:
        self.store: dict[str, dict] = {}

    def save_context(self, execution_id: str, context: dict) -> None:
        self.store[execution_id] = context

    def get_context(self, execution_id: str) -> dict:
        return self.store.get(execution_id, {})


def test_input_fields_are_deep_copies(backends):
    backends.context = AliasingContextBackend()
    tree = Tree(backends)

    def mutate(execution_id, node_config):
        stored = backends.context.get_context(execution_id)
        stored["data"][-1]["k"].append(99)  # in place, in the child's own stored context
        stored["item"][-1].append(3)

    tree.nodes["_mutate"] = mutate
    config = {"main": {"Spawn": child("sub", input_fields=["data"], fan_out_field="items",
                                      child_input_field="item"), "Check": spy()},
              "sub": {"Mutate": {"node_type": "_mutate", "event_triggers": ["START"]}}}
    source = {"data": {"k": [1]}, "items": [[1, 2]]}
    eid = tree.run(config, "main", source)
    assert tree.fields(eid) == {"data": [{"k": [1]}], "items": [[[1, 2]]]}
    assert source == {"data": {"k": [1]}, "items": [[1, 2]]}


def test_concurrent_fan_out_keeps_every_result_and_per_child_order(backends):
    tree = Tree(backends, tools={"tag": lambda item, step: f"{item}-{step}"})
    config = {"main": {"Spawn": child("sub", fan_out_field="items", child_input_field="item",
                                      context_updates_to_parent=["result"], signals_to_parent=["DONE"]),
                       "Count": router(["DONE"], "COUNTED")},
              "sub": {"First": tool("tag", ["START"], "result", parameters={"item": "{{ context.item }}", "step": 1},
                                    event_emissions=[{"signal_name": "NEXT"}]),
                      "Second": tool("tag", ["NEXT"], "result", parameters={"item": "{{ context.item }}", "step": 2},
                                     event_emissions=[{"signal_name": "DONE"}])}}
    eid = tree.run(config, "main", {"items": list(range(20))}, max_concurrency=4)
    results = tree.fields(eid)["result"]
    assert sorted(results) == sorted(f"{i}-{s}" for i in range(20) for s in (1, 2))
    assert all(results.index(f"{i}-1") < results.index(f"{i}-2") for i in range(20))
    op = tree.ctx(eid)["__operational__"]
    assert op["nodes"] == {"Spawn": 1, "Count": 20}
    assert sorted(op["signals"]) == sorted(["START"] + ["DONE", "COUNTED"] * 20)
