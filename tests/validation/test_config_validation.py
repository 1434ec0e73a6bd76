"""Config, workflow, limits and ``orchestrate`` parameter checks (SPEC §13.1, §13.2, §2.2)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

import soe.validation
import soe.validation.config as config_module
from soe._errors import ConfigShapeError, WorkflowValidationError
from soe.validation.config import (
    NODE_VALIDATORS,
    parse_limits,
    validate_config,
    validate_initial_workflow,
    validate_orchestrate_params,
    validate_workflow,
)

ROUTER = {"node_type": "router", "event_triggers": ["START"],
          "event_emissions": [{"signal_name": "DONE"}]}
WORKFLOW = {"Hello": ROUTER}
RESERVED = "'limits' is reserved and cannot be used as a workflow name"


def raises_message(func: Any, *args: Any) -> WorkflowValidationError:
    with pytest.raises(WorkflowValidationError) as info:
        func(*args)
    return info.value


ORCHESTRATE_CASES = [
    ("wf", "START",
     "'initial_signals' must be a list, got str. Example: initial_signals=['START']"),
    ("wf", None,
     "'initial_signals' must be a list, got NoneType. Example: initial_signals=['START']"),
    ("wf", ("START",),
     "'initial_signals' must be a list, got tuple. Example: initial_signals=['START']"),
    ("wf", [], "'initial_signals' cannot be empty - at least one signal is required to start execution"),
    ("", ["START"], "'initial_workflow_name' must be a non-empty string"),
    (None, ["START"], "'initial_workflow_name' must be a non-empty string"),
    (5, ["START"], "'initial_workflow_name' must be a non-empty string"),
    # signals are checked before the workflow name
    (None, [], "'initial_signals' cannot be empty - at least one signal is required to start execution"),
]


@pytest.mark.parametrize(("name", "signals", "message"), ORCHESTRATE_CASES)
def test_orchestrate_params(name: Any, signals: Any, message: str) -> None:
    assert str(raises_message(validate_orchestrate_params, name, signals)) == message


def test_orchestrate_params_valid() -> None:
    validate_orchestrate_params("wf", ["START", "GO"])


@pytest.mark.parametrize(("registry", "listing"), [({"a": {}, "b": {}}, "['a', 'b']"),
                                                   ({}, "[]"), (None, "[]")])
def test_initial_workflow_not_found(registry: Any, listing: str) -> None:
    error = raises_message(validate_initial_workflow, "missing", registry)
    assert str(error) == f"Workflow 'missing' not found in config. Available workflows: {listing}"


def test_initial_workflow_found() -> None:
    validate_initial_workflow("a", {"a": WORKFLOW})


@pytest.mark.parametrize(("config", "type_name"), [
    ("just a sentence", "str"),
    ("- a\n- b\n", "list"),
    ("42", "int"),
    ([WORKFLOW], "list"),
    (None, "NoneType"),
])
def test_non_mapping_config_is_config_shape_error(config: Any, type_name: str) -> None:
    with pytest.raises(AttributeError) as info:  # callers catching upstream's error keep working
        validate_config(config)
    assert isinstance(info.value, ConfigShapeError)
    assert isinstance(info.value, WorkflowValidationError)
    assert str(info.value) == (
        f"Config must be a mapping of workflow names to workflows, got {type_name}")


def test_invalid_yaml_is_value_error() -> None:
    with pytest.raises(ValueError, match=r"^Invalid YAML configuration: "):
        validate_config("a: [unclosed")


def combined(**sections: Any) -> dict:
    return {"workflows": {"main": WORKFLOW}, **sections}


CONFIG_CASES = [
    ({"workflows": ["main"]},
     "'workflows' section must be an object containing workflow definitions"),
    ({"workflows": None},
     "'workflows' section must be an object containing workflow definitions"),
    ({"workflows": {"main": ["Hello"]}},
     "Workflow 'main' must be an object containing node definitions"),
    ({"workflows": {"main": {}}}, "Workflow 'main' is empty - at least one node is required"),
    ({"workflows": {"limits": WORKFLOW}}, RESERVED),
    ({"workflows": {"limits": "not even a mapping"}}, RESERVED),
    (combined(context_schema=["summary"]),
     "'context_schema' section must be an object mapping field names to schemas"),
    (combined(context_schema={"summary": 5}),
     "context_schema.summary: schema must be an object or type string"),
    (combined(identities="You are kind."),
     "'identities' section must be an object mapping identity names to prompts"),
    (combined(identities={"bot": 5}), "identities.bot: identity prompt must be a string, got int"),
    (combined(identities={"bot": None}),
     "identities.bot: identity prompt must be a string, got NoneType"),
    # workflows-only shape
    ({"main": "Hello"}, "Workflow 'main' must be an object containing node definitions"),
    ({"main": None}, "Workflow 'main' must be an object containing node definitions"),
    ({"main": {}}, "Workflow 'main' is empty - at least one node is required"),
    ({"main": WORKFLOW, "other": {"__hidden": ROUTER}},
     "Workflow 'other': node name '__hidden' is reserved - names starting with '__' are reserved "
     "for internal use"),
    # order: workflows before sections, sections before limits
    ({"workflows": {"main": {}}, "identities": 5, "limits": 5},
     "Workflow 'main' is empty - at least one node is required"),
    (combined(context_schema=5, identities=5),
     "'context_schema' section must be an object mapping field names to schemas"),
    (combined(identities=5, limits=5),
     "'identities' section must be an object mapping identity names to prompts"),
    ({"main": {}, "limits": 5}, "Workflow 'main' is empty - at least one node is required"),
]


@pytest.mark.parametrize(("config", "message"), CONFIG_CASES)
def test_config_messages(config: dict, message: str) -> None:
    assert str(raises_message(validate_config, config)) == message


LIMITS_SECTION = "'limits' section must be an object mapping limit names to positive integers"
UNKNOWN_LIMIT = ("unknown limit - valid limits are max_steps, max_concurrency, max_llm_calls, "
                 "max_tokens, max_template_output, max_template_ms, max_call_seconds, max_run_seconds, max_children, "
                 "confine_builtin_tools")

LIMITS_CASES = [
    (5, LIMITS_SECTION),
    ([{"max_steps": 5}], LIMITS_SECTION),
    ("max_steps: 5", LIMITS_SECTION),
    ({"max_stepz": 5}, f"limits.max_stepz: {UNKNOWN_LIMIT}"),
    ({"max_steps": 0}, "limits.max_steps: must be a positive integer, got 0"),
    ({"max_concurrency": -2}, "limits.max_concurrency: must be a positive integer, got -2"),
    ({"max_llm_calls": True}, "limits.max_llm_calls: must be a positive integer, got True"),
    ({"max_tokens": "500"}, "limits.max_tokens: must be a positive integer, got '500'"),
    ({"max_tokens": 1.5}, "limits.max_tokens: must be a positive integer, got 1.5"),
    ({"max_steps": None}, "limits.max_steps: must be a positive integer, got None"),
    # keys in order: the first bad one wins
    ({"max_steps": 0, "bogus": 1}, "limits.max_steps: must be a positive integer, got 0"),
    ({"bogus": 1, "max_steps": 0}, f"limits.bogus: {UNKNOWN_LIMIT}"),
]


@pytest.mark.parametrize("shape", ["combined", "workflows-only"])
@pytest.mark.parametrize(("limits", "message"), LIMITS_CASES)
def test_limits_messages(limits: Any, message: str, shape: str) -> None:
    config = combined(limits=limits) if shape == "combined" else {"main": WORKFLOW, "limits": limits}
    assert str(raises_message(validate_config, config)) == message
    assert str(raises_message(parse_limits, config)) == message


ALL_LIMITS = {"max_steps": 5000, "max_concurrency": 4, "max_llm_calls": 200, "max_tokens": 500000}


@pytest.mark.parametrize("config", [
    {"main": WORKFLOW, "limits": ALL_LIMITS},
    combined(limits=ALL_LIMITS),
])
def test_valid_limits_are_not_a_workflow(config: dict) -> None:
    validate_config(config)
    assert parse_limits(config) == ALL_LIMITS


@pytest.mark.parametrize("config", [None, {}, "text", [1], {"main": WORKFLOW},
                                    {"main": WORKFLOW, "limits": None}])
def test_parse_limits_without_limits(config: Any) -> None:
    assert parse_limits(config) == {}


def test_parse_limits_returns_a_copy() -> None:
    config = {"limits": {"max_steps": 3}}
    limits = parse_limits(config)
    limits["max_steps"] = 99
    assert config["limits"] == {"max_steps": 3}


def test_limits_yaml() -> None:
    text = "limits: {max_steps: 5, max_concurrency: 2}\nmain:\n  Hello:\n" \
           "    node_type: router\n    event_triggers: [START]\n" \
           "    event_emissions: [{signal_name: DONE}]\n"
    validate_config(text)


def test_workflow_named_limits_is_rejected_by_validate_workflow() -> None:
    assert str(raises_message(validate_workflow, "limits", WORKFLOW)) == RESERVED


def prefixed(message: str, node: str = "N") -> str:
    return f"Workflow 'wf', node '{node}': {message}"


WORKFLOW_CASES = [
    ({}, "Workflow 'wf' is empty - at least one node is required"),
    ({"__system": ROUTER},
     "Workflow 'wf': node name '__system' is reserved - names starting with '__' are reserved for "
     "internal use"),
    # the reserved name is checked before the node config itself
    ({"__system": "junk"},
     "Workflow 'wf': node name '__system' is reserved - names starting with '__' are reserved for "
     "internal use"),
    ({"N": {"event_triggers": ["START"]}},
     prefixed("'node_type' is required - specify the type (router, agent, llm, tool, child)")),
    ({"N": {"node_type": ""}},
     prefixed("'node_type' is required - specify the type (router, agent, llm, tool, child)")),
    ({"N": {"node_type": "banana"}},
     prefixed("unknown node_type 'banana'. Valid types are: router, agent, llm, child, tool")),
    ({"N": {"node_type": True}},
     prefixed("unknown node_type 'True'. Valid types are: router, agent, llm, child, tool")),
    ({"N": {"node_type": ["router"]}},
     prefixed("unknown node_type '['router']'. Valid types are: router, agent, llm, child, tool")),
    ({"N": {"node_type": "Router"}},
     prefixed("unknown node_type 'Router'. Valid types are: router, agent, llm, child, tool")),
    # nodes in order: the first failing node wins
    ({"Good": ROUTER, "Bad1": {"node_type": "x"}, "Bad2": {}},
     prefixed("unknown node_type 'x'. Valid types are: router, agent, llm, child, tool", "Bad1")),
]


@pytest.mark.parametrize(("workflow", "message"), WORKFLOW_CASES)
def test_workflow_messages(workflow: dict, message: str) -> None:
    assert str(raises_message(validate_workflow, "wf", workflow)) == message


@pytest.mark.parametrize(("node_config", "type_name"), [("router", "str"), (None, "NoneType"),
                                                        ([ROUTER], "list")])
def test_non_mapping_node_config(node_config: Any, type_name: str) -> None:
    with pytest.raises(ConfigShapeError) as info:
        validate_workflow("wf", {"N": node_config})
    assert isinstance(info.value, AttributeError)
    assert str(info.value) == prefixed(f"node config must be a mapping, got {type_name}")


@pytest.mark.parametrize("node_config", [
    {"node_type": "_custom"},
    {"node_type": "_custom", "event_triggers": "not a list", "prompt": "{{ broken"},
])
def test_underscore_node_types_are_skipped(node_config: dict) -> None:
    validate_workflow("wf", {"N": node_config})


def test_node_validator_failure_is_prefixed_and_chained() -> None:
    error = raises_message(validate_workflow, "wf", {"N": {**ROUTER, "event_triggers": "START"}})
    message = "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]"
    assert str(error) == prefixed(message)
    assert isinstance(error.__cause__, WorkflowValidationError)
    assert str(error.__cause__) == message


def test_node_validators_dispatch_by_type() -> None:
    assert sorted(NODE_VALIDATORS) == ["agent", "child", "llm", "router", "tool"]


def test_custom_validator_in_mapping_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def reject(node_config: Any) -> None:
        raise WorkflowValidationError("nope")

    monkeypatch.setitem(config_module.NODE_VALIDATORS, "router", reject)
    assert str(raises_message(validate_workflow, "wf", {"N": ROUTER})) == prefixed("nope")


YAML_NO = textwrap.dedent("""\
    main:
      Decide:
        node_type: router
        event_triggers: [START]
        event_emissions:
          - signal_name: YES_PATH
          - signal_name: NO
""")


def test_yaml_11_boolean_signal_name() -> None:
    """Q1: unquoted NO is False, so the emission has no signal name."""
    error = raises_message(validate_config, YAML_NO)
    assert str(error) == ("Workflow 'main', node 'Decide': "
                          "Event emission at position 2 is missing 'signal_name'")


FULL_CONFIG = textwrap.dedent("""\
    workflows:
      main:
        Classify:
          node_type: router
          event_triggers: [START]
          event_emissions:
            - signal_name: BIG
              condition: "{{ context.items | accumulated | length > 2 }}"
            - signal_name: SMALL
        Answer:
          node_type: llm
          event_triggers: [SMALL]
          prompt: "Greet {{ context.user }}"
          output_field: reply
          identity: assistant
        Work:
          node_type: agent
          event_triggers: [BIG]
          prompt: "Sum {{ context.items }}"
          tools: [add]
          max_iterations: 5
        Add:
          node_type: tool
          event_triggers: [ADD]
          tool_name: add
          parameters: {a: "{{ context.a }}", b: [1, "{% if context.b %}{{ context.b }}{% endif %}"]}
        Spawn:
          node_type: child
          event_triggers: [SPAWN]
          child_workflow_name: sub
          child_initial_signals: [START]
          fan_out_field: items
          child_input_field: item
        Custom:
          node_type: _mine
      sub:
        Only:
          node_type: router
          event_triggers: [START]
          event_emissions: [{signal_name: DONE}]
    context_schema:
      reply: {type: string}
      summary: string
    identities:
      assistant: "You are concise."
    limits: {max_steps: 100}
    ignored_section: whatever
""")


def test_full_combined_config_is_valid() -> None:
    validate_config(FULL_CONFIG)


JINJA_CASES = [
    ({"node_type": "router", "event_triggers": ["S"],
      "event_emissions": [{"signal_name": "A", "condition": "{{ context.x > }}"}]},
     "Event emission 'A' condition: Jinja syntax error - "
     "unexpected 'end of print statement'"),
    ({"node_type": "llm", "event_triggers": ["S"], "prompt": "{{ context.x | nope }}"},
     "'prompt' template: Jinja syntax error - No filter named 'nope'."),
    ({"node_type": "agent", "event_triggers": ["S"], "prompt": "{% for x in y %}"},
     "'prompt' template: Jinja syntax error - Unexpected end of template. Jinja was looking for "
     "the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is "
     "'for'."),
    ({"node_type": "tool", "event_triggers": ["S"], "tool_name": "t",
      "parameters": {"items": [{"q": "{{ context.q"}]}},
     "'parameters.items[0].q' template: Jinja syntax error - "
     "unexpected end of template, expected 'end of print statement'."),
]


@pytest.mark.parametrize(("node_config", "message"), JINJA_CASES)
def test_jinja_syntax_errors_in_config(node_config: dict, message: str) -> None:
    error = raises_message(validate_config, {"wf": {"N": node_config}})
    assert str(error) == prefixed(message)


SSTI_CONFIG = {"wf": {
    "R": {"node_type": "router", "event_triggers": ["S"],
          "event_emissions": [{"signal_name": "A", "condition": "{{ ''.__class__ }}"}]},
    "L": {"node_type": "llm", "event_triggers": ["S"],
          "prompt": "{{ lipsum.__globals__['os'].popen('id').read() }}"},
    "T": {"node_type": "tool", "event_triggers": ["S"], "tool_name": "t",
          "parameters": {"p": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}},
}}


def test_ssti_payloads_pass_config_validation() -> None:
    """§15: no static scan; the sandbox raises TemplateSecurityError when the node runs."""
    validate_config(SSTI_CONFIG)


def test_package_exports() -> None:
    assert soe.validation.__all__ == [
        "OperationalValidationError", "validate_config", "validate_initial_workflow",
        "validate_operational", "validate_orchestrate_params", "validate_workflow",
    ]
    for name in soe.validation.__all__:
        assert getattr(soe.validation, name) is not None
    assert soe.validation.validate_config is validate_config
