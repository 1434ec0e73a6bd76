"""Node-config rules of SPEC §13.2: every message, exact text, first failing check wins."""

from __future__ import annotations

from typing import Any

import pytest

import soe.validation.nodes.rules as shared
from soe._errors import ConfigShapeError, WorkflowValidationError
from soe.nodes.agent.validation import validate_node_config as validate_agent
from soe.nodes.child.validation import validate_node_config as validate_child
from soe.nodes.llm.validation import validate_node_config as validate_llm
from soe.nodes.router.validation import validate_node_config as validate_router
from soe.nodes.tool.validation import config as tool_config
from soe.nodes.tool.validation import validate_node_config as validate_tool
from soe.nodes.tool.validation import validate_tool_node_config
from soe.nodes.tool.validation.config import validate_node_config as validate_tool_from_config
from soe.validation import validate_workflow

DROP = object()  # an override value that removes the key

ROUTER = {"node_type": "router", "event_triggers": ["START"],
          "event_emissions": [{"signal_name": "DONE"}]}
LLM = {"node_type": "llm", "event_triggers": ["START"], "prompt": "Hi {{ context.name }}"}
AGENT = {"node_type": "agent", "event_triggers": ["START"], "prompt": "Do {{ context.task }}",
         "tools": ["search"]}
TOOL = {"node_type": "tool", "event_triggers": ["GO"], "tool_name": "add"}
CHILD = {"node_type": "child", "event_triggers": ["GO"], "child_workflow_name": "sub",
         "child_initial_signals": ["START"]}

VALIDATORS = {"router": (validate_router, ROUTER), "llm": (validate_llm, LLM),
              "agent": (validate_agent, AGENT), "tool": (validate_tool, TOOL),
              "child": (validate_child, CHILD)}

UNCLOSED = "unexpected end of template, expected 'end of print statement'."
NO_FILTER = "No filter named 'nope'."
EMPTY_IF = "Expected an expression, got 'end of statement block'"


def build(base: dict, overrides: dict) -> dict:
    """A copy of ``base`` with ``overrides`` applied (``DROP`` deletes a key)."""
    config = dict(base)
    for key, value in overrides.items():
        if value is DROP:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def assert_rejected(node_type: str, overrides: dict, message: str) -> None:
    """Direct call gives ``message``; inside a workflow it is prefixed and chained."""
    validator, base = VALIDATORS[node_type]
    config = build(base, overrides)
    with pytest.raises(WorkflowValidationError) as direct:
        validator(config)
    assert str(direct.value) == message
    with pytest.raises(WorkflowValidationError) as wrapped:
        validate_workflow("wf", {"N": config})
    assert str(wrapped.value) == f"Workflow 'wf', node 'N': {message}"
    assert str(wrapped.value.__cause__) == message


def emission(signal: Any = "A", **extra: Any) -> list[dict]:
    return [{"signal_name": signal, **extra}]


ROUTER_CASES = [
    ({"event_triggers": DROP},
     "'event_triggers' is required - specify which signals activate this router"),
    ({"event_triggers": []},
     "'event_triggers' is required - specify which signals activate this router"),
    ({"event_triggers": "START"}, "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]"),
    ({"event_emissions": DROP},
     "'event_emissions' is required - specify which signals to emit based on conditions"),
    ({"event_emissions": []},
     "'event_emissions' is required - specify which signals to emit based on conditions"),
    ({"event_emissions": "DONE"}, "'event_emissions' must be a list of signal definitions"),
    ({"event_emissions": ["DONE"]},
     "Each event_emission must be an object with 'signal_name', got invalid item at position 1"),
    ({"event_emissions": [{"signal_name": "A"}, 5]},
     "Each event_emission must be an object with 'signal_name', got invalid item at position 2"),
    ({"event_emissions": [{"condition": "x"}]},
     "Event emission at position 1 is missing 'signal_name'"),
    ({"event_emissions": emission(False)}, "Event emission at position 1 is missing 'signal_name'"),
    ({"event_emissions": emission(condition=5)},
     "Event emission at position 1 has invalid 'condition' - must be a jinja string"),
    ({"event_emissions": emission(condition="{{ x")},
     f"Event emission 'A' condition: Jinja syntax error - {UNCLOSED}"),
    ({"event_emissions": emission(condition="{{ x | nope }}")},
     f"Event emission 'A' condition: Jinja syntax error - {NO_FILTER}"),
    ({"event_emissions": emission("B", condition="{% if %}yes{% endif %}")},
     f"Event emission 'B' condition: Jinja syntax error - {EMPTY_IF}"),
    # first failing item wins: item 1's syntax error before item 2's shape error
    ({"event_emissions": [{"signal_name": "A", "condition": "{{ x"}, 5]},
     f"Event emission 'A' condition: Jinja syntax error - {UNCLOSED}"),
    # triggers are checked before emissions
    ({"event_triggers": "S", "event_emissions": []},
     "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]"),
]


@pytest.mark.parametrize(("overrides", "message"), ROUTER_CASES)
def test_router_messages(overrides: dict, message: str) -> None:
    assert_rejected("router", overrides, message)


def llm_style_cases(texts: dict) -> list[tuple[dict, str]]:
    """Cases common to llm and agent; ``texts`` holds the wording that differs."""
    return [
        ({"event_triggers": DROP}, texts["required"]),
        ({"event_triggers": []}, texts["required"]),
        ({"event_triggers": "START"}, texts["list"]),
        ({"prompt": DROP}, texts["prompt"]),
        ({"prompt": ""}, texts["prompt"]),
        ({"prompt": "Hi {{ name"}, f"'prompt' template: Jinja syntax error - {UNCLOSED}"),
        ({"prompt": "{{ name | nope }}"}, f"'prompt' template: Jinja syntax error - {NO_FILTER}"),
        ({"prompt": "{% if %}x{% endif %}"}, f"'prompt' template: Jinja syntax error - {EMPTY_IF}"),
        ({"input_fields": ["name"]}, texts["input_fields"]),
        ({"input_fields": []}, texts["input_fields"]),
        ({"output_field": 5}, texts["output_field"]),
        ({"output_field": "__operational__"},
         "'output_field' cannot be '__operational__' - this is a reserved system field"),
        ({"retries": -1}, "'retries' must be a positive integer (default is 3)"),
        ({"retries": "3"}, "'retries' must be a positive integer (default is 3)"),
        ({"retries": 1.5}, "'retries' must be a positive integer (default is 3)"),
        ({"retries": True}, "'retries' must be a positive integer (default is 3)"),
        ({"event_emissions": "A"}, "'event_emissions' must be a list of signal definitions"),
        ({"event_emissions": [5]},
         "Each event_emission must be an object with 'signal_name', got invalid item at position 1"),
        ({"event_emissions": [{}]}, "Event emission at position 1 is missing 'signal_name'"),
        ({"event_emissions": emission(condition=["x"])},
         "Event emission at position 1 has invalid 'condition' - must be a jinja string"),
        ({"identity": 5},
         "'identity' must be a string - used to persist conversation history across executions"),
        ({"llm_failure_signal": ["FAIL"]},
         "'llm_failure_signal' must be a string - the signal to emit when LLM call fails"),
        ({"llm_options": ["logprobs"]},
         "'llm_options' must be a mapping - provider options sent with the request, e.g. {logprobs: true}"),
        ({"exclusive_signals": "yes"},
         "'exclusive_signals' must be true or false - whether exactly one signal is selected"),
        # order: a prompt syntax error comes before input_fields, retries before emissions
        ({"prompt": "{{ x", "input_fields": ["a"]},
         f"'prompt' template: Jinja syntax error - {UNCLOSED}"),
        ({"input_fields": ["a"], "output_field": 5}, texts["input_fields"]),
        ({"retries": -1, "event_emissions": "A"},
         "'retries' must be a positive integer (default is 3)"),
        ({"event_emissions": "A", "identity": 5},
         "'event_emissions' must be a list of signal definitions"),
        ({"identity": 5, "llm_failure_signal": 5},
         "'identity' must be a string - used to persist conversation history across executions"),
    ]


LLM_TEXTS = {
    "required": "'event_triggers' is required - specify which signals activate this LLM node",
    "list": "'event_triggers' must be a list, e.g., [\"START\", \"PROCESS\"]",
    "prompt": "'prompt' is required - provide the prompt template for the LLM",
    "input_fields": "'input_fields' is no longer supported for LLM nodes. "
                    "Use Jinja syntax in prompts instead: {{ context.field_name }}",
    "output_field": "'output_field' must be a string - the context field name to store the LLM response",
}

AGENT_TEXTS = {
    "required": "'event_triggers' is required - specify which signals activate this agent",
    "list": "'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]",
    "prompt": "'prompt' is required - provide the agent's task description or instructions",
    "input_fields": "'input_fields' is no longer supported for Agent nodes. "
                    "Use Jinja syntax in prompts instead: {{ context.field_name }}",
    "output_field": "'output_field' must be a string - the context field name to store the agent's output",
}

MAX_ITERATIONS = "'max_iterations' must be a positive integer (default is 25)"
TOOLS = "'tools' must be a list of tool names available to the agent"

AGENT_ONLY_CASES = [
    ({"max_iterations": 0}, MAX_ITERATIONS),
    ({"max_iterations": -3}, MAX_ITERATIONS),
    ({"max_iterations": "5"}, MAX_ITERATIONS),
    ({"max_iterations": True}, MAX_ITERATIONS),
    ({"max_iterations": 2.5}, MAX_ITERATIONS),
    ({"tools": "search"}, TOOLS),
    ({"tools": {"search": 1}}, TOOLS),
    # max_iterations right after retries, tools after emissions and before identity
    ({"retries": -1, "max_iterations": 0}, "'retries' must be a positive integer (default is 3)"),
    ({"max_iterations": 0, "event_emissions": "A"}, MAX_ITERATIONS),
    ({"event_emissions": "A", "tools": "x"}, "'event_emissions' must be a list of signal definitions"),
    ({"tools": "x", "identity": 5}, TOOLS),
]


@pytest.mark.parametrize(("overrides", "message"), llm_style_cases(LLM_TEXTS))
def test_llm_messages(overrides: dict, message: str) -> None:
    assert_rejected("llm", overrides, message)


@pytest.mark.parametrize(("overrides", "message"), llm_style_cases(AGENT_TEXTS) + AGENT_ONLY_CASES)
def test_agent_messages(overrides: dict, message: str) -> None:
    assert_rejected("agent", overrides, message)


def test_llm_ignores_agent_only_keys() -> None:
    validate_llm(build(LLM, {"max_iterations": 0, "tools": "not-a-list"}))


TOOL_CASES = [
    ({"event_triggers": DROP},
     "'event_triggers' is required - specify which signals activate this tool node"),
    ({"event_triggers": []},
     "'event_triggers' is required - specify which signals activate this tool node"),
    ({"event_triggers": "GO"}, "'event_triggers' must be a list, e.g., [\"EXECUTE_TOOL\"]"),
    ({"tool_name": DROP}, "'tool_name' is required - specify which tool to execute"),
    ({"event_emissions": "A"}, "'event_emissions' must be a list of signal definitions"),
    ({"event_emissions": ["A"]}, "'event_emissions[0]' must be a dict with 'signal_name'"),
    ({"event_emissions": [{"signal_name": "A"}, {"condition": "{{ result }}"}]},
     "'event_emissions[1]' must have 'signal_name'"),
    ({"output_field": 5},
     "'output_field' must be a string - the context field name to store the tool output"),
    ({"output_field": "__operational__"},
     "'output_field' cannot be '__operational__' - this is a reserved system field"),
    ({"parameters": "a=1"}, "'parameters' must be a dict - the kwargs to pass to the tool"),
    ({"parameters": [1, 2]}, "'parameters' must be a dict - the kwargs to pass to the tool"),
    ({"parameters": {"q": "{{ x"}}, f"'parameters.q' template: Jinja syntax error - {UNCLOSED}"),
    ({"parameters": {"items": [{"q": "{{ x"}]}},
     f"'parameters.items[0].q' template: Jinja syntax error - {UNCLOSED}"),
    ({"parameters": {"a": {"b": ["fine {{ x }}", "{% if %}{% endif %}"]}}},
     f"'parameters.a.b[1]' template: Jinja syntax error - {EMPTY_IF}"),
    ({"parameters": {"q": "{{ x | nope }}"}},
     f"'parameters.q' template: Jinja syntax error - {NO_FILTER}"),
    ({"parameters": {"a": 1}, "context_parameter_field": "args"},
     "Cannot specify both 'parameters' and 'context_parameter_field' - use one or the other"),
    # order: the template error comes before the "both" check
    ({"parameters": {"q": "{{ x"}, "context_parameter_field": "args"},
     f"'parameters.q' template: Jinja syntax error - {UNCLOSED}"),
    ({"tool_name": DROP, "event_emissions": "A"},
     "'tool_name' is required - specify which tool to execute"),
]


@pytest.mark.parametrize(("overrides", "message"), TOOL_CASES)
def test_tool_messages(overrides: dict, message: str) -> None:
    assert_rejected("tool", overrides, message)


CHILD_CASES = [
    ({"child_workflow_name": DROP},
     "'child_workflow_name' is required - specify which workflow to start as a child"),
    ({"child_workflow_name": 5}, "'child_workflow_name' must be a string"),
    ({"child_initial_signals": DROP},
     "'child_initial_signals' is required - specify which signals to start the child workflow with"),
    ({"child_initial_signals": "START"}, "'child_initial_signals' must be a list of signal names"),
    ({"event_triggers": DROP},
     "'event_triggers' is required - specify which signals trigger the start of the child workflow"),
    ({"event_triggers": "GO"},
     "'event_triggers' must be a list of signal names, e.g., [\"START_CHILD\"]"),
    ({"signals_to_parent": "DONE"},
     "'signals_to_parent' must be a list of signal names that should propagate from child to parent"),
    ({"signals_to_parent": ["DONE", 1]}, "All items in 'signals_to_parent' must be strings. Found: int"),
    ({"context_updates_to_parent": "x"},
     "'context_updates_to_parent' must be a list of context key names that should propagate "
     "from child to parent"),
    ({"context_updates_to_parent": [None]},
     "All items in 'context_updates_to_parent' must be strings. Found: NoneType"),
    ({"input_fields": "x"},
     "'input_fields' must be a list of context field names to pass to the child workflow"),
    ({"fan_out_field": 5}, "'fan_out_field' must be a string (the context field to iterate over)"),
    ({"fan_out_field": "items"},
     "'child_input_field' is required when 'fan_out_field' is set - specify which field in child "
     "context receives each item"),
    ({"fan_out_field": "items", "child_input_field": 5}, "'child_input_field' must be a string"),
    ({"child_input_field": 5}, "'child_input_field' must be a string"),
    ({"spawn_interval": "1"}, "'spawn_interval' must be a number (seconds to sleep between spawns)"),
    ({"spawn_interval": True}, "'spawn_interval' must be a number (seconds to sleep between spawns)"),
    ({"spawn_interval": -0.5}, "'spawn_interval' must be non-negative"),
    ({"event_emissions": "A"}, "'event_emissions' must be a list of signal definitions"),
    ({"event_emissions": [5]},
     "Each event_emission must be an object with 'signal_name', got invalid item at position 1"),
    ({"event_emissions": [{"signal_name": ""}]},
     "Event emission at position 1 is missing 'signal_name'"),
    ({"event_emissions": emission(condition=1)},
     "Event emission at position 1 has invalid 'condition' - must be a jinja string"),
    # order: workflow name, initial signals, then triggers
    ({"child_initial_signals": [], "event_triggers": []},
     "'child_initial_signals' is required - specify which signals to start the child workflow with"),
    ({"spawn_interval": -1, "event_emissions": "A"}, "'spawn_interval' must be non-negative"),
]


@pytest.mark.parametrize(("overrides", "message"), CHILD_CASES)
def test_child_messages(overrides: dict, message: str) -> None:
    assert_rejected("child", overrides, message)


VALID_CASES = [
    ("router", {}),
    ("router", {"event_emissions": emission(condition="{{ context.x | accumulated | length > 1 }}")}),
    ("router", {"event_emissions": emission(condition="plain text, not a template")}),
    ("router", {"event_emissions": emission(condition=None)}),
    ("llm", {"retries": 0, "output_field": "reply", "identity": "bot",
             "llm_failure_signal": "FAIL", "event_emissions": [{"signal_name": "A"}]}),
    # llm/agent/tool conditions are not syntax-checked (a bad one fails at run time)
    ("llm", {"event_emissions": emission(condition="{{ broken")}),
    ("agent", {"retries": 0, "max_iterations": 1, "tools": []}),
    ("agent", {"prompt": "no template at all"}),
    ("tool", {"tool_name": None}),
    ("tool", {"event_emissions": [{"signal_name": False, "condition": "{{ broken"}]}),
    ("tool", {"parameters": {"a": 1, "b": [None, {"c": "{{ context.c }}"}]}}),
    ("tool", {"context_parameter_field": "args"}),
    ("child", {"fan_out_field": "items", "child_input_field": "item", "spawn_interval": 0.5,
               "signals_to_parent": ["DONE"], "context_updates_to_parent": ["out"],
               "input_fields": ["a"]}),
    ("child", {"spawn_interval": 0}),
]


@pytest.mark.parametrize(("node_type", "overrides"), VALID_CASES)
def test_valid_configs_pass(node_type: str, overrides: dict) -> None:
    validator, base = VALIDATORS[node_type]
    validator(build(base, overrides))


SSTI = ["{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}", "{% print cycler.__init__ %}"]


@pytest.mark.parametrize("payload", SSTI)
def test_ssti_payloads_pass_validation(payload: str) -> None:
    """No static scan (§15): the sandbox stops them when they render."""
    validate_router(build(ROUTER, {"event_emissions": emission(condition=payload)}))
    validate_llm(build(LLM, {"prompt": payload}))
    validate_agent(build(AGENT, {"prompt": payload}))
    validate_tool(build(TOOL, {"parameters": {"deep": [{"q": payload}]}}))


@pytest.mark.parametrize("node_type", sorted(VALIDATORS))
def test_non_mapping_node_config_is_config_shape_error(node_type: str) -> None:
    validator, _ = VALIDATORS[node_type]
    with pytest.raises(ConfigShapeError) as info:
        validator(["not", "a", "mapping"])
    assert str(info.value) == "node config must be a mapping, got list"
    assert isinstance(info.value, AttributeError)


def test_tool_config_module_exports_the_same_validator() -> None:
    assert validate_tool is validate_tool_from_config


def test_router_condition_filter_exception_text_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(source: str) -> None:
        raise RuntimeError("filter 'x' exploded")

    monkeypatch.setattr(shared, "compile_template", boom)
    config = build(ROUTER, {"event_emissions": emission(condition="{{ x }}")})
    with pytest.raises(WorkflowValidationError) as info:
        validate_router(config)
    assert str(info.value) == "Event emission 'A' condition: filter 'x' exploded"


def test_router_condition_other_exception_is_not_a_validation_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(source: str) -> None:
        raise RuntimeError("something else")

    monkeypatch.setattr(shared, "compile_template", boom)
    validate_router(build(ROUTER, {"event_emissions": emission(condition="{{ x }}")}))


def test_syntax_error_is_chained() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        validate_llm(build(LLM, {"prompt": "{{ x"}))
    assert type(info.value.__cause__).__name__ == "TemplateSyntaxError"


def add(a: int, b: int) -> int:
    return a + b


def install_builtins(monkeypatch: pytest.MonkeyPatch, factories: dict) -> None:
    """Stand in for the built-in catalogue so registry tests do not depend on it."""
    monkeypatch.setattr(tool_config, "get_builtin_tool_factory", factories.get)


@pytest.fixture
def no_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    install_builtins(monkeypatch, {})


REGISTRY_CASES = [
    ({}, "missing", "Tool 'missing' not found in tools_registry or builtin tools"),
    (None, "missing", "Tool 'missing' not found in tools_registry or builtin tools"),
    ({"add": 5}, "add", "Tool 'add' registry entry must be a callable or dict with 'function' key"),
    ({"add": {"max_retries": 1}}, "add", "Tool 'add' registry entry dict must have 'function' key"),
    ({"add": {"function": "add"}}, "add", "Tool 'add' 'function' must be callable"),
    ({"add": {"function": add, "max_retries": -1}}, "add",
     "Tool 'add' 'max_retries' must be a non-negative integer"),
    ({"add": {"function": add, "max_retries": "2"}}, "add",
     "Tool 'add' 'max_retries' must be a non-negative integer"),
    ({"add": {"function": add, "max_retries": True}}, "add",
     "Tool 'add' 'max_retries' must be a non-negative integer"),
    ({"add": {"function": add, "failure_signal": 7}}, "add",
     "Tool 'add' 'failure_signal' must be a string"),
]


@pytest.mark.parametrize(("registry", "tool_name", "message"), REGISTRY_CASES)
@pytest.mark.usefixtures("no_builtins")
def test_tool_registry_messages(registry: dict | None, tool_name: str, message: str) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        validate_tool_node_config(build(TOOL, {"tool_name": tool_name}), registry)
    assert str(info.value) == message


@pytest.mark.parametrize("entry", [add, {"function": add},
                                   {"function": add, "max_retries": 0, "failure_signal": "F",
                                    "process_accumulated": True}])
def test_tool_registry_valid_entries(entry: Any) -> None:
    validate_tool_node_config(TOOL, {"add": entry})


@pytest.mark.usefixtures("no_builtins")
def test_tool_registry_check_runs_after_structure() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        validate_tool_node_config(build(TOOL, {"tool_name": DROP}), {})
    assert str(info.value) == "'tool_name' is required - specify which tool to execute"


def test_tool_builtin_resolves_when_absent_from_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    install_builtins(monkeypatch, {"soe_fake": lambda **_: add})
    validate_tool_node_config(build(TOOL, {"tool_name": "soe_fake"}), {})
    with pytest.raises(WorkflowValidationError) as info:
        validate_tool_node_config(build(TOOL, {"tool_name": "soe_other"}), {})
    assert str(info.value) == "Tool 'soe_other' not found in tools_registry or builtin tools"


@pytest.mark.usefixtures("no_builtins")
def test_tool_unhashable_name_is_not_found() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        validate_tool_node_config(build(TOOL, {"tool_name": ["add"]}), {"add": add})
    assert str(info.value) == "Tool '['add']' not found in tools_registry or builtin tools"


TIMEOUT_MSG = ("'timeout' must be a positive number of seconds - how long each LLM or tool call of this "
               "node may take (overrides limits.max_call_seconds)")


@pytest.mark.parametrize("node_type", ["llm", "agent", "tool"])
@pytest.mark.parametrize("timeout", [0, -1, "30", True, float("inf"), float("nan"), [5]])
def test_a_call_timeout_must_be_a_positive_number(node_type: str, timeout: Any) -> None:
    assert_rejected(node_type, {"timeout": timeout}, TIMEOUT_MSG)


@pytest.mark.parametrize("node_type", ["llm", "agent", "tool"])
@pytest.mark.parametrize("timeout", [None, 1, 0.25, 3600])
def test_a_call_timeout_in_seconds_passes(node_type: str, timeout: Any) -> None:
    validator, base = VALIDATORS[node_type]
    validator(build(base, {"timeout": timeout}))
