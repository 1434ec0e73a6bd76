"""Bad and extreme input through ``orchestrate`` (SPEC §2.1, §4.1, §4.5, §13.2, §13.4, Q28)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ScriptedLLM, events, run

from soe import TemplateRenderError, WorkflowValidationError, create_all_nodes, orchestrate
from soe.lib.yaml_parser import parse_yaml
from soe.local_backends import create_in_memory_backends, create_local_backends
from soe.types import ConfigShapeError

JINJA_EOF = "unexpected end of template, expected 'end of print statement'."


def _backends(kind: str, tmp_path) -> Any:
    return create_in_memory_backends() if kind == "memory" else create_local_backends(str(tmp_path / "data"))


@pytest.fixture(params=["memory", "files"])
def any_backends(request, tmp_path):
    return _backends(request.param, tmp_path)


# ------------------------------------------------------------------ YAML


@pytest.mark.parametrize("text", [
    "wf: [unclosed",
    "wf:\n  Node: {node_type: router\n",
    "a: b: c",
    "wf:\n\tNode: 1\n",
    "- a\n b: [",
])
def test_malformed_yaml_is_a_value_error(backends, text):
    with pytest.raises(ValueError) as info:
        run(text, backends, workflow="wf")
    assert str(info.value).startswith("Invalid YAML configuration: ")
    assert not isinstance(info.value, WorkflowValidationError)
    with pytest.raises(ValueError, match="^Invalid YAML configuration: "):
        parse_yaml(text)


def test_malformed_yaml_writes_nothing(backends):
    with pytest.raises(ValueError):
        run("wf: [unclosed", backends, workflow="wf", execution_id="bad-yaml")
    assert backends.context.get_context("bad-yaml") == {}
    assert backends.workflow.get_workflows_registry("bad-yaml") in ({}, None)


# ------------------------------------------------------ per-key wrong types

TRIGGERS = ["START"]
KID = {"Done": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "D"}]}}


def router(**keys: Any) -> dict:
    node = {"node_type": "router", "event_triggers": TRIGGERS, "event_emissions": [{"signal_name": "A"}]}
    node.update(keys)
    return {k: v for k, v in node.items() if v is not _DROP}


def llm(**keys: Any) -> dict:
    node = {"node_type": "llm", "event_triggers": TRIGGERS, "prompt": "hi"}
    node.update(keys)
    return {k: v for k, v in node.items() if v is not _DROP}


def tool(**keys: Any) -> dict:
    node = {"node_type": "tool", "event_triggers": TRIGGERS, "tool_name": "t"}
    node.update(keys)
    return {k: v for k, v in node.items() if v is not _DROP}


def child(**keys: Any) -> dict:
    node = {"node_type": "child", "event_triggers": TRIGGERS, "child_workflow_name": "kid",
            "child_initial_signals": ["START"]}
    node.update(keys)
    return {k: v for k, v in node.items() if v is not _DROP}


class _Drop:
    def __repr__(self) -> str:
        return "<drop>"


_DROP = _Drop()

BAD_NODES = [
    # --- router
    ("router-triggers-missing", router(event_triggers=_DROP),
     "'event_triggers' is required - specify which signals activate this router"),
    ("router-triggers-empty", router(event_triggers=[]),
     "'event_triggers' is required - specify which signals activate this router"),
    ("router-triggers-str", router(event_triggers="START"),
     "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]"),
    ("router-triggers-dict", router(event_triggers={"START": 1}),
     "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]"),
    ("router-emissions-missing", router(event_emissions=_DROP),
     "'event_emissions' is required - specify which signals to emit based on conditions"),
    ("router-emissions-empty", router(event_emissions=[]),
     "'event_emissions' is required - specify which signals to emit based on conditions"),
    ("router-emissions-str", router(event_emissions="A"),
     "'event_emissions' must be a list of signal definitions"),
    ("router-emission-item-str", router(event_emissions=[{"signal_name": "A"}, "B"]),
     "Each event_emission must be an object with 'signal_name', got invalid item at position 2"),
    ("router-emission-no-signal", router(event_emissions=[{"condition": "x"}]),
     "Event emission at position 1 is missing 'signal_name'"),
    ("router-emission-falsy-signal", router(event_emissions=[{"signal_name": ""}]),
     "Event emission at position 1 is missing 'signal_name'"),
    ("router-emission-yaml-bool-signal", router(event_emissions=[{"signal_name": False}]),
     "Event emission at position 1 is missing 'signal_name'"),
    ("router-condition-int", router(event_emissions=[{"signal_name": "A", "condition": 5}]),
     "Event emission at position 1 has invalid 'condition' - must be a jinja string"),
    ("router-condition-list", router(event_emissions=[{"signal_name": "A", "condition": ["x"]}]),
     "Event emission at position 1 has invalid 'condition' - must be a jinja string"),
    ("router-condition-syntax", router(event_emissions=[{"signal_name": "A", "condition": "{{ context.x"}]),
     f"Event emission 'A' condition: Jinja syntax error - {JINJA_EOF}"),
    ("router-condition-unknown-filter", router(event_emissions=[{"signal_name": "A", "condition": "{{ 1 | nope }}"}]),
     "Event emission 'A' condition: Jinja syntax error - No filter named 'nope'."),
    # --- llm
    ("llm-triggers-missing", llm(event_triggers=_DROP),
     "'event_triggers' is required - specify which signals activate this LLM node"),
    ("llm-triggers-str", llm(event_triggers="START"),
     "'event_triggers' must be a list, e.g., [\"START\", \"PROCESS\"]"),
    ("llm-prompt-missing", llm(prompt=_DROP), "'prompt' is required - provide the prompt template for the LLM"),
    ("llm-prompt-empty", llm(prompt=""), "'prompt' is required - provide the prompt template for the LLM"),
    ("llm-prompt-syntax", llm(prompt="Hi {{ context.x"), f"'prompt' template: Jinja syntax error - {JINJA_EOF}"),
    ("llm-input-fields", llm(input_fields=["a"]),
     "'input_fields' is no longer supported for LLM nodes. Use Jinja syntax in prompts instead: "
     "{{ context.field_name }}"),
    ("llm-output-field-int", llm(output_field=5),
     "'output_field' must be a string - the context field name to store the LLM response"),
    ("llm-output-field-operational", llm(output_field="__operational__"),
     "'output_field' cannot be '__operational__' - this is a reserved system field"),
    ("llm-retries-str", llm(retries="3"), "'retries' must be a positive integer (default is 3)"),
    ("llm-retries-negative", llm(retries=-1), "'retries' must be a positive integer (default is 3)"),
    ("llm-retries-float", llm(retries=1.5), "'retries' must be a positive integer (default is 3)"),
    ("llm-emissions-str", llm(event_emissions="A"), "'event_emissions' must be a list of signal definitions"),
    ("llm-emission-item-int", llm(event_emissions=[7]),
     "Each event_emission must be an object with 'signal_name', got invalid item at position 1"),
    ("llm-emission-no-signal", llm(event_emissions=[{"signal_name": "A"}, {"condition": "c"}]),
     "Event emission at position 2 is missing 'signal_name'"),
    ("llm-condition-int", llm(event_emissions=[{"signal_name": "A", "condition": 1}]),
     "Event emission at position 1 has invalid 'condition' - must be a jinja string"),
    ("llm-identity-int", llm(identity=5),
     "'identity' must be a string - used to persist conversation history across executions"),
    ("llm-failure-signal-list", llm(llm_failure_signal=["F"]),
     "'llm_failure_signal' must be a string - the signal to emit when LLM call fails"),
    # --- tool
    ("tool-triggers-missing", tool(event_triggers=_DROP),
     "'event_triggers' is required - specify which signals activate this tool node"),
    ("tool-triggers-str", tool(event_triggers="GO"), "'event_triggers' must be a list, e.g., [\"EXECUTE_TOOL\"]"),
    ("tool-name-missing", tool(tool_name=_DROP), "'tool_name' is required - specify which tool to execute"),
    ("tool-emissions-str", tool(event_emissions="A"), "'event_emissions' must be a list of signal definitions"),
    ("tool-emission-item-str", tool(event_emissions=[{"signal_name": "A"}, "B"]),
     "'event_emissions[1]' must be a dict with 'signal_name'"),
    ("tool-emission-no-signal", tool(event_emissions=[{"condition": "x"}]),
     "'event_emissions[0]' must have 'signal_name'"),
    ("tool-output-field-int", tool(output_field=1),
     "'output_field' must be a string - the context field name to store the tool output"),
    ("tool-output-field-operational", tool(output_field="__operational__"),
     "'output_field' cannot be '__operational__' - this is a reserved system field"),
    ("tool-parameters-str", tool(parameters="a=1"), "'parameters' must be a dict - the kwargs to pass to the tool"),
    ("tool-parameters-list", tool(parameters=[1]), "'parameters' must be a dict - the kwargs to pass to the tool"),
    ("tool-parameters-syntax", tool(parameters={"items": [{"q": "ok"}, {"q": "{{ context.x"}]}),
     f"'parameters.items[1].q' template: Jinja syntax error - {JINJA_EOF}"),
    ("tool-parameters-block-syntax", tool(parameters={"a": {"b": "{% if %}"}}),
     "'parameters.a.b' template: Jinja syntax error - Expected an expression, got 'end of statement block'"),
    ("tool-parameters-and-field", tool(parameters={"a": 1}, context_parameter_field="args"),
     "Cannot specify both 'parameters' and 'context_parameter_field' - use one or the other"),
    # --- child
    ("child-workflow-missing", child(child_workflow_name=_DROP),
     "'child_workflow_name' is required - specify which workflow to start as a child"),
    ("child-workflow-int", child(child_workflow_name=5), "'child_workflow_name' must be a string"),
    ("child-signals-missing", child(child_initial_signals=_DROP),
     "'child_initial_signals' is required - specify which signals to start the child workflow with"),
    ("child-signals-str", child(child_initial_signals="START"),
     "'child_initial_signals' must be a list of signal names"),
    ("child-triggers-missing", child(event_triggers=_DROP),
     "'event_triggers' is required - specify which signals trigger the start of the child workflow"),
    ("child-triggers-str", child(event_triggers="GO"),
     "'event_triggers' must be a list of signal names, e.g., [\"START_CHILD\"]"),
    ("child-signals-to-parent-str", child(signals_to_parent="DONE"),
     "'signals_to_parent' must be a list of signal names that should propagate from child to parent"),
    ("child-signals-to-parent-item", child(signals_to_parent=["DONE", 3]),
     "All items in 'signals_to_parent' must be strings. Found: int"),
    ("child-updates-to-parent-str", child(context_updates_to_parent="x"),
     "'context_updates_to_parent' must be a list of context key names that should propagate from child to parent"),
    ("child-updates-to-parent-item", child(context_updates_to_parent=[1.5]),
     "All items in 'context_updates_to_parent' must be strings. Found: float"),
    ("child-input-fields-str", child(input_fields="a"),
     "'input_fields' must be a list of context field names to pass to the child workflow"),
    ("child-fan-out-int", child(fan_out_field=1), "'fan_out_field' must be a string (the context field to iterate over)"),
    ("child-input-field-missing", child(fan_out_field="items"),
     "'child_input_field' is required when 'fan_out_field' is set - specify which field in child context "
     "receives each item"),
    ("child-input-field-int", child(fan_out_field="items", child_input_field=2), "'child_input_field' must be a string"),
    ("child-spawn-interval-str", child(spawn_interval="1"),
     "'spawn_interval' must be a number (seconds to sleep between spawns)"),
    ("child-spawn-interval-negative", child(spawn_interval=-0.5), "'spawn_interval' must be non-negative"),
    ("child-emissions-str", child(event_emissions="A"), "'event_emissions' must be a list of signal definitions"),
    ("child-emission-item", child(event_emissions=[None]),
     "Each event_emission must be an object with 'signal_name', got invalid item at position 1"),
]


@pytest.mark.parametrize("node, message", [case[1:] for case in BAD_NODES], ids=[case[0] for case in BAD_NODES])
def test_wrong_node_keys_are_rejected_by_orchestrate(backends, node, message):
    config = {"w": {"n": node}, "kid": KID}
    with pytest.raises(WorkflowValidationError) as info:
        run(config, backends, workflow="w", tools={"t": lambda: None}, call_llm=ScriptedLLM("{}"),
            execution_id="bad-node")
    assert str(info.value) == f"Workflow 'w', node 'n': {message}"
    assert not isinstance(info.value, ConfigShapeError)
    # validation happens before anything is written
    assert backends.context.get_context("bad-node") == {}


@pytest.mark.parametrize("node, message", [case[1:] for case in BAD_NODES[:3]], ids=[c[0] for c in BAD_NODES[:3]])
def test_wrong_node_keys_are_rejected_in_yaml_too(backends, node, message):
    import yaml

    config = yaml.safe_dump({"w": {"n": node}})
    with pytest.raises(WorkflowValidationError) as info:
        run(config, backends, workflow="w")
    assert str(info.value) == f"Workflow 'w', node 'n': {message}"


def test_node_errors_chain_the_node_message(backends):
    with pytest.raises(WorkflowValidationError) as info:
        run({"w": {"n": router(event_triggers="START")}}, backends, workflow="w")
    assert isinstance(info.value.__cause__, WorkflowValidationError)
    assert str(info.value.__cause__) == "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]"


def test_yaml_boolean_signal_name_is_rejected(backends):
    """Q1: an unquoted ``NO`` is the boolean False."""
    config = "w:\n  n:\n    node_type: router\n    event_triggers: [START]\n    event_emissions:\n      - signal_name: NO\n"
    with pytest.raises(WorkflowValidationError) as info:
        run(config, backends, workflow="w")
    assert str(info.value) == "Workflow 'w', node 'n': Event emission at position 1 is missing 'signal_name'"


# ----------------------------------------------------- node types, names


@pytest.mark.parametrize("node, message", [
    ({"event_triggers": ["START"]}, "'node_type' is required - specify the type (router, agent, llm, tool, child)"),
    ({"node_type": "routr", "event_triggers": ["START"]},
     "unknown node_type 'routr'. Valid types are: router, agent, llm, child, tool"),
    ({"node_type": "Router", "event_triggers": ["START"]},
     "unknown node_type 'Router'. Valid types are: router, agent, llm, child, tool"),
    ({"node_type": 5}, "unknown node_type '5'. Valid types are: router, agent, llm, child, tool"),
])
def test_unknown_or_missing_node_types(backends, node, message):
    with pytest.raises(WorkflowValidationError) as info:
        run({"w": {"n": node}}, backends, workflow="w")
    assert str(info.value) == f"Workflow 'w', node 'n': {message}"


def test_underscore_node_type_skips_validation_but_needs_a_caller(backends):
    config = {"w": {"n": {"node_type": "_custom", "event_triggers": ["START"], "anything": object()}}}
    with pytest.raises(KeyError) as info:
        run(config, backends, workflow="w")
    assert info.value.args == ("_custom",)


def test_known_type_without_caller_raises_key_error(backends):
    config = {"w": {"n": llm()}}
    with pytest.raises(KeyError) as info:
        run(config, backends, workflow="w")  # no call_llm -> no "llm" caller
    assert info.value.args == ("llm",)


def test_reserved_node_name_and_empty_workflow(backends):
    with pytest.raises(WorkflowValidationError) as info:
        run({"w": {"__n": router()}}, backends, workflow="w")
    assert str(info.value) == ("Workflow 'w': node name '__n' is reserved - names starting with '__' are reserved "
                               "for internal use")
    with pytest.raises(WorkflowValidationError) as info:
        run({"w": {}}, backends, workflow="w")
    assert str(info.value) == "Workflow 'w' is empty - at least one node is required"


# ------------------------------------------------------- unknown tools


def test_unknown_tool_fails_at_execution_not_validation(backends):
    config = {"w": {"First": router(event_emissions=[{"signal_name": "GO"}]),
                    "n": tool(event_triggers=["GO"], tool_name="ghost")}}
    with pytest.raises(WorkflowValidationError) as info:
        run(config, backends, workflow="w", tools={"t": lambda: 1}, execution_id="ghost")
    assert str(info.value) == "Tool 'ghost' not found in tools_registry or builtin tools"
    operational = backends.context.get_context("ghost")["__operational__"]
    assert operational["signals"] == ["START", "GO"]
    assert operational["nodes"] == {"First": 1, "n": 1}
    assert operational["tool_calls"] == 0


def test_unknown_tool_with_non_string_name(backends):
    with pytest.raises(WorkflowValidationError) as info:
        run({"w": {"n": tool(tool_name=5)}}, backends, workflow="w", tools={"t": lambda: 1})
    assert str(info.value) == "Tool '5' not found in tools_registry or builtin tools"


# ----------------------------------------------------- non-mapping shapes


@pytest.mark.parametrize("config, type_name", [
    ("just a string", "str"),
    ("- a\n- b\n", "list"),
    ("42", "int"),
    (["a"], "list"),
    (3.5, "float"),
    (("w",), "tuple"),
])
def test_non_mapping_config_is_config_shape_error(backends, config, type_name):
    with pytest.raises(ConfigShapeError) as info:
        run(config, backends, workflow="w")
    assert str(info.value) == f"Config must be a mapping of workflow names to workflows, got {type_name}"
    assert isinstance(info.value, WorkflowValidationError)
    assert isinstance(info.value, AttributeError)


@pytest.mark.parametrize("node, type_name", [("router", "str"), (["router"], "list"), (None, "NoneType"), (7, "int")])
def test_non_mapping_node_config_is_config_shape_error(backends, node, type_name):
    with pytest.raises(ConfigShapeError) as info:
        run({"w": {"n": node}}, backends, workflow="w")
    assert str(info.value) == f"Workflow 'w', node 'n': node config must be a mapping, got {type_name}"
    with pytest.raises(AttributeError):
        run({"w": {"n": node}}, backends, workflow="w")


def test_yaml_list_node_config_names_list(backends):
    with pytest.raises(ConfigShapeError) as info:
        run("w:\n  n: [router]\n", backends, workflow="w")
    assert str(info.value) == "Workflow 'w', node 'n': node config must be a mapping, got list"


def test_yaml_list_identity_names_list(backends):
    config = "workflows:\n  w:\n    n: {node_type: router, event_triggers: [S], event_emissions: [{signal_name: A}]}\n" \
             "identities:\n  a: [x]\n"
    with pytest.raises(WorkflowValidationError) as info:
        run(config, backends, workflow="w")
    assert str(info.value) == "identities.a: identity prompt must be a string, got list"


def test_non_mapping_node_config_in_combined_shape(backends):
    config = "workflows:\n  w:\n    n: just text\n"
    with pytest.raises(ConfigShapeError) as info:
        run(config, backends, workflow="w")
    assert str(info.value) == "Workflow 'w', node 'n': node config must be a mapping, got str"


@pytest.mark.parametrize("config, message", [
    ({"w": "not a workflow"}, "Workflow 'w' must be an object containing node definitions"),
    ({"w": ["n"]}, "Workflow 'w' must be an object containing node definitions"),
    ({"workflows": ["w"]}, "'workflows' section must be an object containing workflow definitions"),
    ({"workflows": {"w": 3}}, "Workflow 'w' must be an object containing node definitions"),
    ({"workflows": {"w": {"n": router()}}, "identities": ["x"]},
     "'identities' section must be an object mapping identity names to prompts"),
    ({"workflows": {"w": {"n": router()}}, "identities": {"a": 5}},
     "identities.a: identity prompt must be a string, got int"),
    ({"workflows": {"w": {"n": router()}}, "context_schema": "x"},
     "'context_schema' section must be an object mapping field names to schemas"),
    ({"workflows": {"w": {"n": router()}}, "context_schema": {"f": 5}},
     "context_schema.f: schema must be an object or type string"),
    ({"w": {"n": router()}, "limits": [1]}, "'limits' section must be an object mapping limit names to positive integers"),
    ({"w": {"n": router()}, "limits": {"max_stepz": 1}},
     "limits.max_stepz: unknown limit - valid limits are max_steps, max_concurrency, max_llm_calls, max_tokens, "
     "max_template_output, max_template_ms, max_call_seconds, max_run_seconds, max_children, "
     "confine_builtin_tools"),
    ({"w": {"n": router()}, "limits": {"max_steps": 0}}, "limits.max_steps: must be a positive integer, got 0"),
    ({"w": {"n": router()}, "limits": {"max_steps": "10"}}, "limits.max_steps: must be a positive integer, got '10'"),
])
def test_bad_sections(backends, config, message):
    with pytest.raises(WorkflowValidationError) as info:
        run(config, backends, workflow="w")
    assert str(info.value) == message


# ------------------------------------------------------ huge and deep contexts


def echo(value):
    return value


def _deep(levels: int) -> dict:
    value: dict = {"leaf": [1, "two", None]}
    for i in range(levels):
        value = {f"level{i}": value}
    return value


ROUND_TRIP = {"w": {"Copy": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "context_parameter_field": "payload", "output_field": "copy",
                             "event_emissions": [{"signal_name": "COPIED",
                                                  "condition": "{{ result is not none }}"}]}}}


@pytest.mark.parametrize("kind", ["memory", "files"])
@pytest.mark.parametrize("make", [
    pytest.param(lambda: "x" * (5 * 1024 * 1024), id="5MB-string"),
    pytest.param(lambda: list(range(100_000)), id="100k-list"),
    pytest.param(lambda: [{"i": i, "s": str(i)} for i in range(100_000)], id="100k-dicts"),
    pytest.param(lambda: _deep(500), id="500-levels"),
])
@pytest.mark.slow
def test_huge_and_deep_values_round_trip(tmp_path, kind, make):
    backends = _backends(kind, tmp_path)
    value = make()
    eid = run(ROUND_TRIP, backends, workflow="w", tools={"echo": echo},
              context={"payload": {"value": value}, "raw": value})
    ctx = backends.context.get_context(eid)
    assert ctx["copy"] == [value]
    assert ctx["raw"] == [value]
    assert ctx["payload"] == [{"value": value}]
    assert ctx["__operational__"]["signals"] == ["START", "COPIED"]
    if kind == "files":
        on_disk = json.loads((tmp_path / "data" / "contexts" / f"{eid}.json").read_text())
        assert on_disk["copy"] == [value]


@pytest.mark.parametrize("kind", ["memory", "files"])
def test_huge_value_through_parameters_and_conditions(tmp_path, kind):
    backends = _backends(kind, tmp_path)
    big = "y" * (5 * 1024 * 1024)
    config = {"w": {"Measure": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                                "parameters": {"value": "{{ context.big | length }}"}, "output_field": "size",
                                "event_emissions": [{"signal_name": "BIG", "condition": "{{ result | int > 5000000 }}"}]},
                    "Gate": {"node_type": "router", "event_triggers": ["BIG"], "event_emissions": [
                        {"signal_name": "LONG", "condition": "{{ context.items_list | length == 100000 }}"}]}}}
    eid = run(config, backends, workflow="w", tools={"echo": echo},
              context={"big": big, "items_list": list(range(100_000))})
    ctx = backends.context.get_context(eid)
    assert ctx["size"] == [str(len(big))]
    assert ctx["__operational__"]["signals"] == ["START", "BIG", "LONG"]


@pytest.mark.parametrize("kind", ["memory", "files"])
def test_deep_context_is_visible_to_templates(tmp_path, kind):
    backends = _backends(kind, tmp_path)
    deep = _deep(500)
    config = {"w": {"Gate": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [
        {"signal_name": "DEEP", "condition": "{{ context.deep.level499.level498 is mapping }}"}]}}}
    eid = run(config, backends, workflow="w", context={"deep": deep})
    ctx = backends.context.get_context(eid)
    assert ctx["deep"] == [deep]
    assert ctx["__operational__"]["signals"] == ["START", "DEEP"]


@pytest.mark.parametrize("kind", ["memory", "files"])
def test_deep_value_written_by_a_tool_round_trips(tmp_path, kind):
    """The 500-level value is produced inside the run, so only the backend and the tool node handle it."""
    backends = _backends(kind, tmp_path)
    config = {"w": {"Make": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "make",
                             "output_field": "deep", "event_emissions": [{"signal_name": "MADE"}]},
                    "Copy": {"node_type": "tool", "event_triggers": ["MADE"], "tool_name": "echo",
                             "context_parameter_field": "args", "output_field": "copy"}}}
    registry = {"make": lambda: _deep(500), "echo": lambda: _deep(500)}
    eid = run(config, backends, workflow="w", tools=registry)
    ctx = backends.context.get_context(eid)
    assert ctx["deep"] == [_deep(500)]
    assert ctx["copy"] == [_deep(500)]
    assert ctx["__operational__"]["signals"] == ["START", "MADE"]


# ------------------------------------------------- state after a node raises


def _operational(backends, eid: str) -> dict:
    return backends.context.get_context(eid)["__operational__"]


def _fields(backends, eid: str) -> dict:
    return {k: v for k, v in backends.context.get_context(eid).items() if not k.startswith("__")}


def test_state_after_llm_prompt_render_error(any_backends):
    backends = any_backends
    llm_stub = ScriptedLLM('{"answer": "never"}')
    config = {"w": {
        "Prep": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                 "parameters": {"value": "prepared"}, "output_field": "prep", "event_emissions": [{"signal_name": "ASK"}]},
        "Ask": {"node_type": "llm", "event_triggers": ["ASK"], "prompt": "Use {{ context.prep.missing.deeper }}",
                "output_field": "answer", "llm_failure_signal": "FAILED", "event_emissions": [{"signal_name": "DONE"}]},
        "Later": {"node_type": "router", "event_triggers": ["ASK"], "event_emissions": [{"signal_name": "LATER"}]},
    }}
    with pytest.raises(TemplateRenderError) as info:
        run(config, backends, workflow="w", tools={"echo": echo}, call_llm=llm_stub,
            context={"user": "ana", "__meta": {"k": 1}}, execution_id="render-fail")
    assert str(info.value) == "Template error in node 'Ask', prompt: 'str object' has no attribute 'missing'"
    assert llm_stub.calls == []
    assert _fields(backends, "render-fail") == {"user": ["ana"], "prep": ["prepared"]}
    assert backends.context.get_context("render-fail")["__meta"] == {"k": 1}
    operational = _operational(backends, "render-fail")
    assert operational["signals"] == ["START", "ASK"]
    assert operational["nodes"] == {"Prep": 1, "Ask": 1}  # "Later" never ran: the queue was dropped
    assert operational["llm_calls"] == 1
    assert operational["tool_calls"] == 1
    assert operational["errors"] == 0
    assert [e["event_type"] for e in events(backends, "render-fail")
            if e["event_type"] != "context_warning"][-2:] == ["node_execution", "llm_call"]


def test_state_after_custom_node_raises(any_backends):
    backends = any_backends
    nodes, broadcast = create_all_nodes(backends, tools_registry={"echo": echo})
    seen: list[dict] = []

    def boom(execution_id: str, node_config: dict) -> None:
        seen.append(dict(node_config))
        raise ValueError("custom node exploded")

    nodes["_boom"] = boom
    config = {"w": {
        "Prep": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                 "parameters": {"value": 1}, "output_field": "n", "event_emissions": [{"signal_name": "GO"}]},
        "Boom": {"node_type": "_boom", "event_triggers": ["GO"], "whatever": [1]},
        "After": {"node_type": "tool", "event_triggers": ["GO"], "tool_name": "echo",
                  "parameters": {"value": 2}, "output_field": "n"},
    }}
    with pytest.raises(ValueError, match="^custom node exploded$"):
        orchestrate(config, "w", ["START"], {"n": 0, "keep": "me"}, backends, broadcast, execution_id="boom")
    assert seen == [{"node_type": "_boom", "event_triggers": ["GO"], "whatever": [1], "name": "Boom"}]
    assert _fields(backends, "boom") == {"n": [0, 1], "keep": ["me"]}
    operational = _operational(backends, "boom")
    assert operational["signals"] == ["START", "GO"]
    assert operational["nodes"] == {"Prep": 1, "Boom": 1}
    assert operational["tool_calls"] == 1
    assert operational["errors"] == 0
    assert [(e["event_type"], e["context"]) for e in events(backends, "boom")][-2:] == [
        ("signals_broadcast", {"signals": ["GO"]}),
        ("node_execution", {"node_name": "Boom", "node_type": "_boom"}),
    ]
