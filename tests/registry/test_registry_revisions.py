"""soe.registry: the Python API, Q23 validation and numbered revisions (SPEC §15 "Registry revisions")."""

from __future__ import annotations

import random
import re

import pytest

from soe import create_all_nodes, orchestrate
from soe.lib.snapshot import registry_snapshot
from soe.local_backends import LocalBackends, create_local_backends
from soe.registry import (
    add_signal,
    change_registry,
    get_registry_revisions,
    inject_node,
    inject_workflow,
    record_initial_revision,
    remove_node,
    remove_workflow,
    rollback_registry,
)
from soe.types import WorkflowValidationError

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


def router(trigger="START", signal="DONE"):
    return {"node_type": "router", "event_triggers": [trigger], "event_emissions": [{"signal_name": signal}]}


def seed(backends, eid="e1", registry=None):
    backends.workflow.save_workflows_registry(eid, {"wf": {"A": router()}} if registry is None else registry)
    return eid


def stored(backends, eid="e1"):
    return registry_snapshot(backends.workflow, eid)  # the stored object itself: `is` means unchanged


def summary(backends, eid="e1"):
    return [(r["revision"], r["author"], r["operation"]) for r in get_registry_revisions(eid, backends)]


class PlainWorkflowBackend:
    """A user workflow backend with only the protocol methods: it keeps no revisions."""

    def __init__(self):
        self.registries: dict = {}

    def save_workflows_registry(self, id, workflows):
        self.registries[id] = workflows

    def get_workflows_registry(self, id):
        return self.registries.get(id)

    def save_current_workflow_name(self, id, name):
        pass

    def get_current_workflow_name(self, id):
        return ""


# --- revision 0 and the revision shape ------------------------------------------------------------

def test_record_initial_revision(backends):
    record_initial_revision("e1", {"wf": {"A": router()}, "other": {"B": router("GO")}}, backends)
    record_initial_revision("e1", {"ignored": {}}, backends)
    revisions = get_registry_revisions("e1", backends)
    assert len(revisions) == 1
    revision = revisions[0]
    assert list(revision) == ["revision", "author", "operation", "timestamp", "diff"]
    assert (revision["revision"], revision["author"], revision["operation"]) == (0, "api", "orchestrate")
    assert TIMESTAMP.match(revision["timestamp"])
    assert revision["diff"] == [{"op": "add", "path": "/wf", "value": {"A": router()}},
                                {"op": "add", "path": "/other", "value": {"B": router("GO")}}]


def test_first_change_records_the_found_registry_as_revision_0(backends):
    seed(backends)
    assert inject_node("e1", "wf", "B", router("GO"), backends) == 1
    revisions = get_registry_revisions("e1", backends)
    assert summary(backends) == [(0, "api", "orchestrate"), (1, "api", "inject_node")]
    assert revisions[0]["diff"] == [{"op": "add", "path": "/wf", "value": {"A": router()}}]
    assert revisions[1]["diff"] == [{"op": "add", "path": "/wf/B", "value": router("GO")}]
    assert TIMESTAMP.match(revisions[1]["timestamp"])


def test_a_direct_backend_write_is_not_a_revision(backends):
    seed(backends)
    record_initial_revision("e1", stored(backends), backends)
    backends.workflow.save_workflows_registry("e1", {"wf": {"A": router(), "Z": router("Z")}})
    assert summary(backends) == [(0, "api", "orchestrate")]


def test_orchestrated_execution_then_api_change(backends):
    _, broadcast = create_all_nodes(backends)
    eid = orchestrate({"wf": {"A": router()}}, "wf", ["START"], {}, backends, broadcast)
    add_signal(eid, "wf", "A", "MORE", "{{ true }}", backends)
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "api", "add_signal")]


# --- the Python API -------------------------------------------------------------------------

def test_api_operations_and_diffs(backends):
    seed(backends)
    assert inject_workflow("e1", "second", {"X": router("GO")}, backends) == 1
    assert inject_workflow("e1", "second", {"Y": router("GO")}, backends) == 2
    assert inject_node("e1", "wf", "A", router("AGAIN"), backends) == 3
    assert add_signal("e1", "wf", "A", "EXTRA", None, backends) == 4
    assert add_signal("e1", "wf", "A", "EXTRA", "{{ 1 }}", backends) == 5
    assert remove_node("e1", "second", "Y", backends) == 6
    assert remove_workflow("e1", "second", backends) == 7
    revisions = get_registry_revisions("e1", backends)
    assert [r["operation"] for r in revisions] == [
        "orchestrate", "inject_workflow", "inject_workflow", "inject_node", "add_signal", "add_signal",
        "remove_node", "remove_workflow"]
    assert {r["author"] for r in revisions} == {"api"}
    assert [r["revision"] for r in revisions] == list(range(8))
    node = {"node_type": "router", "event_triggers": ["AGAIN"],
            "event_emissions": [{"signal_name": "DONE"}, {"signal_name": "EXTRA", "condition": "{{ 1 }}"}]}
    assert [r["diff"] for r in revisions[1:]] == [
        [{"op": "add", "path": "/second", "value": {"X": router("GO")}}],
        [{"op": "replace", "path": "/second", "value": {"Y": router("GO")}}],
        [{"op": "replace", "path": "/wf/A", "value": router("AGAIN")}],
        [{"op": "replace", "path": "/wf/A", "value": {**node, "event_emissions": [
            {"signal_name": "DONE"}, {"signal_name": "EXTRA", "condition": None}]}}],
        [{"op": "replace", "path": "/wf/A", "value": node}],
        [{"op": "remove", "path": "/second/Y"}],
        [{"op": "remove", "path": "/second"}],
    ]
    assert stored(backends) == {"wf": {"A": node}}


def test_api_never_mutates_the_callers_objects(backends):
    seed(backends)
    definition = {"X": router("GO")}
    inject_workflow("e1", "second", definition, backends)
    add_signal("e1", "second", "X", "NEW", "", backends)
    assert definition == {"X": router("GO")}
    snapshot = stored(backends)
    inject_node("e1", "wf", "B", router("GO"), backends)
    extended = {**router("GO"), "event_emissions": [{"signal_name": "DONE"}, {"signal_name": "NEW", "condition": ""}]}
    assert snapshot == {"wf": {"A": router()}, "second": {"X": extended}}


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda b: inject_node("e1", "nope", "N", router(), b), ValueError,
     "Workflow 'nope' not found in workflows registry"),
    (lambda b: inject_node("e1", "wf", "N", ["not", "a", "node"], b), ValueError,
     "Node configuration must be a dictionary/object"),
    (lambda b: remove_workflow("e1", "nope", b), ValueError, "Workflow 'nope' not found in workflows registry"),
    (lambda b: remove_node("e1", "nope", "A", b), ValueError, "Workflow 'nope' not found in workflows registry"),
    (lambda b: remove_node("e1", "wf", "nope", b), ValueError, "Node 'nope' not found in workflow 'wf'"),
    (lambda b: add_signal("e1", "nope", "A", "S", "", b), ValueError, "Workflow 'nope' not found"),
    (lambda b: add_signal("e1", "wf", "nope", "S", "", b), ValueError, "Node 'nope' not found in workflow 'wf'"),
    (lambda b: inject_workflow("e1", "new", {}, b), WorkflowValidationError,
     "Workflow 'new' is empty - at least one node is required"),
    (lambda b: inject_workflow("e1", "new", "text", b), WorkflowValidationError,
     "Workflow 'new' must be an object containing node definitions"),
    (lambda b: inject_node("e1", "wf", "N", {"event_triggers": ["S"]}, b), WorkflowValidationError,
     "Workflow 'wf', node 'N': 'node_type' is required - specify the type (router, agent, llm, tool, child)"),
    (lambda b: inject_node("e1", "wf", "N", {"node_type": "llm", "event_triggers": ["S"], "prompt": "{% if %}"}, b),
     WorkflowValidationError, "Workflow 'wf', node 'N': 'prompt' template: Jinja syntax error - "
                              "Expected an expression, got 'end of statement block'"),
    (lambda b: add_signal("e1", "wf", "A", "", "", b), WorkflowValidationError,
     "Workflow 'wf', node 'A': Event emission at position 2 is missing 'signal_name'"),
    (lambda b: inject_node("e1", "wf", 3, router(), b), WorkflowValidationError,
     "'node_name' must be a non-empty string, got int"),
    (lambda b: remove_workflow("e1", None, b), WorkflowValidationError,
     "'workflow_name' must be a non-empty string, got NoneType"),
])
def test_api_errors_leave_everything_unchanged(backends, call, error, message):
    seed(backends)
    before = stored(backends)
    with pytest.raises(error) as info:
        call(backends)
    assert str(info.value) == message
    assert stored(backends) is before
    assert get_registry_revisions("e1", backends) == []


@pytest.mark.parametrize("call", [
    lambda b: inject_workflow("e1", "limits", {"A": router()}, b),
    lambda b: inject_node("e1", "limits", "A", router(), b),
    lambda b: remove_workflow("e1", "limits", b),
    lambda b: remove_node("e1", "limits", "A", b),
    lambda b: add_signal("e1", "limits", "A", "S", "", b),
])
def test_limits_is_never_a_workflow_name(backends, call):
    seed(backends, registry={"limits": {"A": router()}})  # only a direct write can create it
    with pytest.raises(WorkflowValidationError) as info:
        call(backends)
    assert str(info.value) == "'limits' is reserved and cannot be used as a workflow name"
    assert get_registry_revisions("e1", backends) == []


def test_names_with_slashes_and_tildes_are_escaped(backends):
    seed(backends, registry={"a/b": {"x~y": router()}})
    inject_node("e1", "a/b", "c/d", router("GO"), backends)
    revisions = get_registry_revisions("e1", backends)
    assert revisions[0]["diff"][0]["path"] == "/a~1b"
    assert revisions[1]["diff"] == [{"op": "add", "path": "/a~1b/c~1d", "value": router("GO")}]
    remove_node("e1", "a/b", "x~y", backends)
    assert get_registry_revisions("e1", backends)[2]["diff"] == [{"op": "remove", "path": "/a~1b/x~0y"}]
    rollback_registry("e1", 0, backends)
    assert stored(backends) == {"a/b": {"x~y": router()}}


def test_user_backend_without_revision_methods(backends):
    plain = LocalBackends(backends.context, PlainWorkflowBackend())
    seed(plain)
    record_initial_revision("e1", stored(plain), plain)
    assert inject_node("e1", "wf", "B", router("GO"), plain) is None
    assert stored(plain) == {"wf": {"A": router(), "B": router("GO")}}
    assert get_registry_revisions("e1", plain) == []
    with pytest.raises(ValueError) as info:
        rollback_registry("e1", 0, plain)
    assert str(info.value) == "Revision 0 not found for execution 'e1'"


def test_unknown_or_missing_registry_starts_empty(backends):
    inject_workflow("fresh", "wf", {"A": router()}, backends)
    assert stored(backends, "fresh") == {"wf": {"A": router()}}
    assert get_registry_revisions("fresh", backends)[0]["diff"] == []


def test_change_registry_returns_the_edit_result(backends):
    seed(backends)

    def edit(registry):
        registry["wf"]["B"] = router("GO")
        return "done"

    change = change_registry("e1", backends, operation="custom", author="someone", change=edit)
    assert (change.result, change.revision) == ("done", 1)
    assert change.diff == [{"op": "add", "path": "/wf/B", "value": router("GO")}]
    assert summary(backends)[-1] == (1, "someone", "custom")


# --- rollback ------------------------------------------------------------------------------

def test_rollback_restores_a_revision_as_a_new_revision(backends):
    seed(backends, registry={"wf": {"A": router(), "B": router("B"), "C": router("C")}, "z": {"Z": router()}})
    remove_node("e1", "wf", "B", backends)
    inject_node("e1", "wf", "D", router("D"), backends)
    remove_workflow("e1", "z", backends)
    inject_workflow("e1", "new", {"N": router()}, backends)
    assert rollback_registry("e1", 0, backends) == 5
    restored = stored(backends)
    assert restored == {"wf": {"A": router(), "B": router("B"), "C": router("C")}, "z": {"Z": router()}}
    assert list(restored) == ["wf", "z"]
    assert list(restored["wf"]) == ["A", "B", "C"]
    assert summary(backends)[-1] == (5, "api", "rollback_registry")
    assert rollback_registry("e1", 3, backends) == 6
    assert stored(backends) == {"wf": {"A": router(), "C": router("C"), "D": router("D")}}
    assert rollback_registry("e1", 5, backends) == 7
    assert list(stored(backends)["wf"]) == ["A", "B", "C"]


@pytest.mark.parametrize("revision", [9, -1, True, "0"])
def test_rollback_unknown_revision(backends, revision):
    seed(backends)
    inject_node("e1", "wf", "B", router("GO"), backends)
    before = stored(backends)
    with pytest.raises(ValueError) as info:
        rollback_registry("e1", revision, backends)
    assert str(info.value) == f"Revision {revision} not found for execution 'e1'"
    assert stored(backends) is before
    assert len(get_registry_revisions("e1", backends)) == 2


def test_rollback_to_the_current_state_is_still_a_revision(backends):
    seed(backends)
    inject_node("e1", "wf", "B", router("GO"), backends)
    assert rollback_registry("e1", 1, backends) == 2
    assert get_registry_revisions("e1", backends)[2]["diff"] == []


def test_replaying_revisions_rebuilds_every_registry_exactly(backends):
    rng = random.Random(7)
    seed(backends, registry={"w0": {"n0": router()}})
    history = [stored(backends)]
    record_initial_revision("e1", history[0], backends)
    for step in range(150):
        registry = stored(backends)
        workflow = rng.choice(sorted(registry)) if registry else None
        nodes = sorted(registry[workflow]) if workflow else []
        action = rng.choice(["wf", "node", "node", "rm_node", "rm_wf", "signal", "rollback"])
        if action == "wf" or not registry:
            inject_workflow("e1", f"w{rng.randint(0, 5)}", {f"n{rng.randint(0, 3)}": router(str(step))}, backends)
        elif action == "node":
            inject_node("e1", workflow, f"n{rng.randint(0, 6)}", router(str(step)), backends)
        elif action == "rm_node" and nodes:
            remove_node("e1", workflow, rng.choice(nodes), backends)
        elif action == "rm_wf":
            remove_workflow("e1", workflow, backends)
        elif action == "signal" and nodes:
            add_signal("e1", workflow, rng.choice(nodes), f"S{rng.randint(0, 2)}", str(step), backends)
        elif action == "rollback":
            rollback_registry("e1", rng.randrange(len(history)), backends)
        else:
            continue
        history.append(stored(backends))
    for number in rng.sample(range(len(history)), 25):
        rollback_registry("e1", number, backends)
        restored = stored(backends)
        assert restored == history[number]
        assert list(restored) == list(history[number])
        assert all(list(restored[w]) == list(history[number][w]) for w in restored)


def test_revisions_with_file_backends(tmp_path):
    local = create_local_backends(str(tmp_path))
    seed(local)
    inject_node("e1", "wf", "B", router("GO"), local)
    rollback_registry("e1", 0, local)
    reread = create_local_backends(str(tmp_path))
    assert summary(reread) == [(0, "api", "orchestrate"), (1, "api", "inject_node"), (2, "api", "rollback_registry")]
    assert reread.workflow.get_workflows_registry("e1") == {"wf": {"A": router()}}
