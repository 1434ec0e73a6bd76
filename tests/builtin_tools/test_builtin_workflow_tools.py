"""Registry built-ins: soe_get_workflows, soe_inject_workflow, soe_inject_node, soe_remove_workflow,
soe_remove_node, soe_add_signal (SPEC §10.2, Q7, Q13, Q23, §15 revisions)."""

from __future__ import annotations

import json

import pytest

from soe import create_all_nodes, orchestrate
from soe.builtin_tools import BUILTIN_TOOLS
from soe.registry import get_registry_revisions
from soe.types import WorkflowValidationError

ROUTER = {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "DONE"}]}
NEW_NODE = {"node_type": "router", "event_triggers": ["GO"], "event_emissions": [{"signal_name": "OK"}]}


def seed(backends, eid="e1", registry=None):
    backends.context.save_context(eid, {"x": [1], "__operational__": {
        "signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0, "main_execution_id": eid}})
    registry = {"wf": {"A": dict(ROUTER)}} if registry is None else registry
    backends.workflow.save_workflows_registry(eid, registry)
    return eid


def tool(name, backends, eid="e1"):
    return BUILTIN_TOOLS[name](execution_id=eid, backends=backends, tools_registry={})


def stored(backends, eid="e1"):
    return backends.workflow.get_workflows_registry(eid)


def tool_events(backends, eid="e1"):
    return [e["context"] for e in backends.telemetry.get_events(eid) if e["event_type"] == "node_execution"]


def node_counts(backends, eid="e1"):
    return backends.context.get_context(eid)["__operational__"]["nodes"]


def assert_unchanged(backends, before, eid="e1"):
    assert stored(backends, eid) == before
    assert get_registry_revisions(eid, backends) == []
    assert tool_events(backends, eid) == []


# --- soe_get_workflows ---------------------------------------------------------------------

def test_get_workflows_shapes(backends):
    seed(backends, registry={"wf": {"A": dict(ROUTER)}, "other": {"B": dict(NEW_NODE)}})
    get = tool("soe_get_workflows", backends)
    assert get(list_only=True) == {"workflow_names": ["wf", "other"]}
    assert get(workflow_name="wf") == {"workflow_name": "wf", "nodes": ["A"], "node_configs": {"A": ROUTER}}
    assert get(workflow_name="nope") == {"error": "Workflow 'nope' not found", "available": ["wf", "other"]}
    assert get() == {"wf": {"A": ROUTER}, "other": {"B": NEW_NODE}}
    assert get(workflow_name="wf", list_only=True) == {"workflow_names": ["wf", "other"]}


def test_get_workflows_returns_plain_copies(backends):
    seed(backends)
    whole = tool("soe_get_workflows", backends)()
    whole["wf"]["A"]["node_type"] = "changed"  # a read-only snapshot would raise
    assert stored(backends)["wf"]["A"]["node_type"] == "router"


def test_get_workflows_without_registry(backends):
    assert tool("soe_get_workflows", backends, "unknown")() == {}
    assert tool("soe_get_workflows", backends, "unknown")(list_only=True) == {"workflow_names": []}


# --- soe_inject_workflow ---------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    json.dumps({"N": NEW_NODE}),
    "N:\n  node_type: router\n  event_triggers: [GO]\n  event_emissions:\n    - signal_name: OK\n",
    json.dumps({"new": {"N": NEW_NODE}, "unrelated": {"X": 1}}),
    json.dumps({"something_else": {"N": NEW_NODE}}),
])
def test_inject_workflow_accepts_json_yaml_and_wrapped_definitions(backends, data):
    seed(backends)
    result = tool("soe_inject_workflow", backends)("new", data)
    assert result == {"injected": True, "workflow_name": "new", "message": "Successfully injected workflow 'new'"}
    assert stored(backends) == {"wf": {"A": ROUTER}, "new": {"N": NEW_NODE}}
    assert tool_events(backends) == [{"tool": "soe_inject_workflow", "workflow_name": "new"}]
    assert node_counts(backends) == {}


def test_inject_workflow_replaces_and_records_a_revision(backends):
    seed(backends)
    tool("soe_inject_workflow", backends)("wf", json.dumps({"N": NEW_NODE}))
    assert stored(backends) == {"wf": {"N": NEW_NODE}}
    revisions = get_registry_revisions("e1", backends)
    assert [(r["revision"], r["author"], r["operation"]) for r in revisions] == [
        (0, "api", "orchestrate"), (1, "api", "soe_inject_workflow")]
    assert revisions[0]["diff"] == [{"op": "add", "path": "/wf", "value": {"A": ROUTER}}]
    assert revisions[1]["diff"] == [{"op": "replace", "path": "/wf", "value": {"N": NEW_NODE}}]


@pytest.mark.parametrize(("data", "message"), [
    ("[1, 2]", "Workflow data must be a dictionary/object"),
    ('"text"', "Workflow data must be a dictionary/object"),
    ("", "Workflow data must be a dictionary/object"),
    ("{}", "No workflow definition found for injection"),
    (json.dumps({"new": None}), "No workflow definition found for injection"),
])
def test_inject_workflow_bad_data(backends, data, message):
    seed(backends)
    before = stored(backends)
    with pytest.raises(ValueError) as info:
        tool("soe_inject_workflow", backends)("new", data)
    assert str(info.value) == message
    assert_unchanged(backends, before)


def test_inject_workflow_single_key_mapping_is_unwrapped(backends):
    seed(backends)
    with pytest.raises(WorkflowValidationError) as info:
        tool("soe_inject_workflow", backends)("new", json.dumps({"N": {"event_triggers": ["GO"]}}))
    assert str(info.value) == "Workflow 'new', node 'event_triggers': node config must be a mapping, got list"


def test_inject_workflow_unparseable_text(backends):
    seed(backends)
    before = stored(backends)
    with pytest.raises(ValueError, match="Invalid YAML"):
        tool("soe_inject_workflow", backends)("new", "a: [unclosed")
    assert_unchanged(backends, before)


@pytest.mark.parametrize(("name", "data", "message"), [
    ("new", json.dumps({"N": {"event_triggers": ["GO"]}, "M": NEW_NODE}),
     "Workflow 'new', node 'N': 'node_type' is required - specify the type (router, agent, llm, tool, child)"),
    ("new", json.dumps({"N": NEW_NODE, "M": {"node_type": "router", "event_triggers": ["X"],
                                              "event_emissions": [{"condition": "x"}]}}),
     "Workflow 'new', node 'M': Event emission at position 1 is missing 'signal_name'"),
    ("limits", json.dumps({"N": NEW_NODE}), "'limits' is reserved and cannot be used as a workflow name"),
    ("new", json.dumps({"N": NEW_NODE, "other": "text"}),
     "Workflow 'new', node 'other': node config must be a mapping, got str"),
])
def test_inject_workflow_validates_the_whole_workflow(backends, name, data, message):
    seed(backends)
    before = stored(backends)
    with pytest.raises(WorkflowValidationError) as info:
        tool("soe_inject_workflow", backends)(name, data)
    assert str(info.value) == message
    assert_unchanged(backends, before)


# --- soe_inject_node -------------------------------------------------------------------------

def test_inject_node_adds_and_counts_the_node(backends):
    seed(backends)
    result = tool("soe_inject_node", backends)("wf", "N", json.dumps(NEW_NODE))
    assert result == {"injected": True, "workflow_name": "wf", "node_name": "N",
                      "message": "Successfully injected node 'N' into workflow 'wf'"}
    assert stored(backends) == {"wf": {"A": ROUTER, "N": NEW_NODE}}
    assert tool_events(backends) == [{"tool": "soe_inject_node", "workflow_name": "wf", "node_name": "N"}]
    assert node_counts(backends) == {"N": 1}  # Q13
    diff = get_registry_revisions("e1", backends)[1]["diff"]
    assert diff == [{"op": "add", "path": "/wf/N", "value": NEW_NODE}]


def test_inject_node_replaces_in_place_from_yaml(backends):
    seed(backends, registry={"wf": {"A": dict(ROUTER), "B": dict(NEW_NODE)}})
    tool("soe_inject_node", backends)("wf", "A", "node_type: router\nevent_triggers: [AGAIN]\n"
                                                 "event_emissions: [{signal_name: X}]\n")
    registry = stored(backends)
    assert list(registry["wf"]) == ["A", "B"]
    assert registry["wf"]["A"]["event_triggers"] == ["AGAIN"]
    assert get_registry_revisions("e1", backends)[1]["diff"][0]["op"] == "replace"


def test_inject_node_missing_workflow_is_checked_before_parsing(backends):
    seed(backends)
    before = stored(backends)
    for data in (json.dumps(NEW_NODE), "[1]", "a: [unclosed"):
        with pytest.raises(ValueError) as info:
            tool("soe_inject_node", backends)("nope", "N", data)
        assert str(info.value) == "Workflow 'nope' not found in workflows registry"
    assert_unchanged(backends, before)


@pytest.mark.parametrize("data", ["[1, 2]", '"router"', "", "null"])
def test_inject_node_non_mapping(backends, data):
    seed(backends)
    before = stored(backends)
    with pytest.raises(ValueError) as info:
        tool("soe_inject_node", backends)("wf", "N", data)
    assert str(info.value) == "Node configuration must be a dictionary/object"
    assert_unchanged(backends, before)


@pytest.mark.parametrize(("node", "message"), [
    ({"node_type": "router", "event_triggers": ["S"], "event_emissions": [{"condition": "x"}]},
     "Workflow 'wf', node 'N': Event emission at position 1 is missing 'signal_name'"),
    ({"node_type": "router", "event_triggers": ["S"], "event_emissions": ["OK"]},
     "Workflow 'wf', node 'N': Each event_emission must be an object with 'signal_name', "
     "got invalid item at position 1"),
    ({"event_triggers": ["S"]},
     "Workflow 'wf', node 'N': 'node_type' is required - specify the type (router, agent, llm, tool, child)"),
    ({"node_type": "llm", "event_triggers": ["S"], "prompt": "{{ context.x "},
     "Workflow 'wf', node 'N': 'prompt' template: Jinja syntax error - "
     "unexpected end of template, expected 'end of print statement'."),
    ({"node_type": "magic", "event_triggers": ["S"]},
     "Workflow 'wf', node 'N': unknown node_type 'magic'. Valid types are: router, agent, llm, child, tool"),
])
def test_inject_node_validates_q23(backends, node, message):
    seed(backends)
    before = stored(backends)
    with pytest.raises(WorkflowValidationError) as info:
        tool("soe_inject_node", backends)("wf", "N", json.dumps(node))
    assert str(info.value) == message
    assert_unchanged(backends, before)
    assert node_counts(backends) == {}


def test_inject_node_reserved_name(backends):
    seed(backends)
    with pytest.raises(WorkflowValidationError) as info:
        tool("soe_inject_node", backends)("wf", "__x", json.dumps(NEW_NODE))
    assert str(info.value) == ("Workflow 'wf': node name '__x' is reserved - names starting with '__' "
                               "are reserved for internal use")


def test_inject_node_structure_only_checks_and_skips(backends):
    seed(backends)
    inject = tool("soe_inject_node", backends)
    inject("wf", "T", json.dumps({"node_type": "tool", "event_triggers": ["S"], "tool_name": "not_registered"}))
    inject("wf", "C", json.dumps({"node_type": "_custom", "anything": [1]}))
    assert list(stored(backends)["wf"]) == ["A", "T", "C"]


def test_inject_node_does_not_revalidate_existing_nodes(backends):
    broken = {"node_type": "router", "event_triggers": ["S"]}  # invalid, saved directly
    seed(backends, registry={"wf": {"Broken": broken}, "other": {"Bad": "not a mapping"}})
    tool("soe_inject_node", backends)("wf", "N", json.dumps(NEW_NODE))
    assert stored(backends)["wf"] == {"Broken": broken, "N": NEW_NODE}


def test_inject_node_accepts_ssti_payloads(backends):
    seed(backends)
    node = {"node_type": "llm", "event_triggers": ["S"], "prompt": "{{ ''.__class__.__mro__ }}"}
    tool("soe_inject_node", backends)("wf", "Evil", json.dumps(node))
    assert stored(backends)["wf"]["Evil"] == node


# --- soe_remove_workflow / soe_remove_node -------------------------------------------------------

def test_remove_workflow(backends):
    seed(backends, registry={"wf": {"A": dict(ROUTER)}, "other": {"B": dict(NEW_NODE)}})
    result = tool("soe_remove_workflow", backends)("other")
    assert result == {"removed": True, "workflow_name": "other", "message": "Successfully removed workflow 'other'"}
    assert stored(backends) == {"wf": {"A": ROUTER}}
    assert tool_events(backends) == [{"tool": "soe_remove_workflow", "workflow_name": "other"}]
    assert get_registry_revisions("e1", backends)[1]["diff"] == [{"op": "remove", "path": "/other"}]


def test_remove_workflow_missing(backends):
    seed(backends)
    before = stored(backends)
    with pytest.raises(ValueError) as info:
        tool("soe_remove_workflow", backends)("nope")
    assert str(info.value) == "Workflow 'nope' not found in workflows registry"
    assert_unchanged(backends, before)


def test_remove_node(backends):
    seed(backends, registry={"wf": {"A": dict(ROUTER), "B": dict(NEW_NODE)}})
    result = tool("soe_remove_node", backends)("wf", "A")
    assert result == {"removed": True, "workflow_name": "wf", "node_name": "A",
                      "message": "Successfully removed node 'A' from workflow 'wf'"}
    assert stored(backends) == {"wf": {"B": NEW_NODE}}
    assert tool_events(backends) == [{"tool": "soe_remove_node", "workflow_name": "wf", "node_name": "A"}]
    assert node_counts(backends) == {"A": 1}  # Q13
    assert get_registry_revisions("e1", backends)[1]["diff"] == [{"op": "remove", "path": "/wf/A"}]


@pytest.mark.parametrize(("workflow", "node", "message"), [
    ("nope", "A", "Workflow 'nope' not found in workflows registry"),
    ("wf", "nope", "Node 'nope' not found in workflow 'wf'"),
])
def test_remove_node_missing(backends, workflow, node, message):
    seed(backends)
    before = stored(backends)
    with pytest.raises(ValueError) as info:
        tool("soe_remove_node", backends)(workflow, node)
    assert str(info.value) == message
    assert_unchanged(backends, before)


# --- soe_add_signal ------------------------------------------------------------------------

def test_add_signal_adds_with_event_and_counter(backends):
    seed(backends)
    result = tool("soe_add_signal", backends)("wf", "A", "EXTRA", "{{ context.x }}")
    assert result == {"status": "added", "message": "Added signal 'EXTRA' to node 'A'"}
    assert stored(backends)["wf"]["A"]["event_emissions"] == [
        {"signal_name": "DONE"}, {"signal_name": "EXTRA", "condition": "{{ context.x }}"}]
    assert tool_events(backends) == [{"tool": "add_signal", "workflow_name": "wf", "node_name": "A",
                                      "signal": "EXTRA"}]
    assert node_counts(backends) == {"A": 1}  # Q13
    revision = get_registry_revisions("e1", backends)[1]
    assert (revision["operation"], revision["author"]) == ("soe_add_signal", "api")
    assert revision["diff"] == [{"op": "replace", "path": "/wf/A", "value": stored(backends)["wf"]["A"]}]


def test_add_signal_updates_without_event(backends):
    seed(backends)
    result = tool("soe_add_signal", backends)("wf", "A", "DONE", "{{ context.x }}")
    assert result == {"status": "updated", "message": "Updated signal 'DONE' in node 'A'"}
    assert stored(backends)["wf"]["A"]["event_emissions"] == [{"signal_name": "DONE", "condition": "{{ context.x }}"}]
    assert tool_events(backends) == []
    assert len(get_registry_revisions("e1", backends)) == 2


def test_add_signal_creates_event_emissions(backends):
    seed(backends, registry={"wf": {"T": {"node_type": "tool", "event_triggers": ["S"], "tool_name": "t"}}})
    tool("soe_add_signal", backends)("wf", "T", "OK", "{{ result }}")
    assert stored(backends)["wf"]["T"]["event_emissions"] == [{"signal_name": "OK", "condition": "{{ result }}"}]


@pytest.mark.parametrize(("workflow", "node", "message"), [
    ("nope", "A", "Workflow 'nope' not found"),
    ("wf", "nope", "Node 'nope' not found in workflow 'wf'"),
])
def test_add_signal_missing(backends, workflow, node, message):
    seed(backends)
    before = stored(backends)
    with pytest.raises(ValueError) as info:
        tool("soe_add_signal", backends)(workflow, node, "S", "")
    assert str(info.value) == message
    assert_unchanged(backends, before)


@pytest.mark.parametrize(("signal", "condition", "message"), [
    ("", "x", "Workflow 'wf', node 'A': Event emission at position 2 is missing 'signal_name'"),
    ("S", "{{ x | nofilter }}", "Workflow 'wf', node 'A': Event emission 'S' condition: "
                                "Jinja syntax error - No filter named 'nofilter'."),
])
def test_add_signal_validates_the_modified_node(backends, signal, condition, message):
    seed(backends)
    before = stored(backends)
    with pytest.raises(WorkflowValidationError) as info:
        tool("soe_add_signal", backends)("wf", "A", signal, condition)
    assert str(info.value) == message
    assert_unchanged(backends, before)
    assert node_counts(backends) == {}


# --- binding and authorship ----------------------------------------------------------------------

def test_tools_act_on_their_bound_execution(backends):
    seed(backends, "e1")
    seed(backends, "e2")
    tool("soe_inject_node", backends, "e2")("wf", "N", json.dumps(NEW_NODE))
    assert stored(backends, "e1") == {"wf": {"A": ROUTER}}
    assert stored(backends, "e2") == {"wf": {"A": ROUTER, "N": NEW_NODE}}
    assert get_registry_revisions("e1", backends) == []


def test_author_is_the_node_that_called_the_tool(backends):
    registry: dict = {}
    _, broadcast = create_all_nodes(backends, tools_registry=registry)
    config = {"wf": {
        "Builder": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_inject_node",
                    "parameters": {"workflow_name": "wf", "node_name": "Late",
                                   "node_config_data": json.dumps(NEW_NODE)},
                    "event_emissions": [{"signal_name": "GO"}]},
        "Tagger": {"node_type": "tool", "event_triggers": ["OK"], "tool_name": "soe_add_signal",
                   "parameters": {"workflow_name": "wf", "node_name": "Late", "signal_name": "MORE",
                                  "condition": ""}},
    }}
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    revisions = get_registry_revisions(eid, backends)
    assert [(r["author"], r["operation"]) for r in revisions[-2:]] == [
        ("Builder", "soe_inject_node"), ("Tagger", "soe_add_signal")]
    operational = backends.context.get_context(eid)["__operational__"]
    assert operational["signals"] == ["START", "GO", "OK"]
    assert operational["nodes"] == {"Builder": 1, "Late": 3, "Tagger": 1}
    assert registry == {}
