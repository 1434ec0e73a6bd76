"""The public API surface (SPEC §1.1-§1.7, §10.1, §11.2, §12.2, §15, Q24)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

FIRST_16 = [
    "orchestrate", "broadcast_signals", "create_all_nodes", "setup_orchestration", "AgentRequest",
    "AgentResponse", "ToolNodeConfigurationError", "ToolParameterError", "Backends", "ContextBackend",
    "WorkflowBackend", "TelemetryBackend", "ConversationHistoryBackend", "ContextSchemaBackend",
    "IdentityBackend", "CallLlm",
]

BACKEND_PROTOCOLS = ["ContextBackend", "WorkflowBackend", "TelemetryBackend", "ConversationHistoryBackend",
                     "ContextSchemaBackend", "IdentityBackend"]

NODE_TYPES = ["router", "llm", "agent", "tool", "child"]

MODULE_MAP = [
    ("soe", FIRST_16),
    ("soe.types", ["EventTypes", "SoeError", "WorkflowValidationError", *BACKEND_PROTOCOLS, "Backends", "CallLlm",
                   "BroadcastSignalsCaller", "NodeCaller", "OrchestrateCaller", "TemplateSecurityError",
                   "TemplateRenderError", "StepBudgetExceeded", "ConfigShapeError", "ResumeError", "BudgetExceeded",
                   "StoreError", "CallTimeout"]),
    ("soe.local_backends", ["create_in_memory_backends", "create_local_backends", "LocalContextBackend",
                            "LocalWorkflowBackend", "LocalTelemetryBackend", "LocalConversationHistoryBackend"]),
    ("soe.local_backends.factory", ["LocalBackends", "create_in_memory_backends", "create_local_backends"]),
    ("soe.lib.yaml_parser", ["parse_yaml"]),
    ("soe.lib.context_fields", ["set_field", "get_field", "get_accumulated"]),
    ("soe.lib.jinja_render", ["render_prompt", "get_context_for_prompt"]),
    ("soe.lib.schema_validation", ["schema_to_pydantic", "schema_to_root_model"]),
    ("soe.validation", ["validate_config", "validate_workflow", "validate_orchestrate_params",
                        "validate_initial_workflow", "validate_operational", "OperationalValidationError"]),
    ("soe.validation.config", ["validate_config", "validate_workflow", "validate_orchestrate_params",
                               "validate_initial_workflow"]),
    ("soe.validation.operational", ["validate_operational", "validate_backends", "OperationalValidationError"]),
    ("soe.nodes", ["AgentRequest", "AgentResponse", "ToolNodeConfigurationError", "ToolParameterError"]),
    *[(f"soe.nodes.{t}.factory", [f"create_{t}_node_caller"]) for t in NODE_TYPES],
    *[(f"soe.nodes.{t}.validation", ["validate_node_config"]) for t in NODE_TYPES],
    *[(f"soe.nodes.{t}.validation.operational", [f"validate_{t}_node_runtime"]) for t in NODE_TYPES],
    ("soe.nodes.tool.validation.config", ["validate_node_config", "validate_tool_node_config"]),
    ("soe.builtin_tools", ["BUILTIN_TOOLS", "get_builtin_tool_factory"]),
    ("soe.docs_index", ["DOCS_INDEX"]),
]

BUILTIN_ORDER = [
    "soe_inject_workflow", "soe_inject_node", "soe_get_workflows", "soe_get_available_tools", "soe_explore_docs",
    "soe_remove_workflow", "soe_remove_node", "soe_get_context", "soe_update_context", "soe_copy_context",
    "soe_list_contexts", "soe_add_signal", "soe_call_tool", "soe_get_identities", "soe_inject_identity",
    "soe_remove_identity", "soe_get_context_schema", "soe_inject_context_schema_field",
    "soe_remove_context_schema_field",
]

CONTEXT_TOOLS = {"soe_get_context", "soe_update_context", "soe_copy_context", "soe_list_contexts"}

EVENTS = [
    "orchestration_start", "config_inheritance_start", "context_inheritance_start", "context_merge",
    "signals_broadcast", "node_execution", "signals_to_parent", "llm_call", "context_warning", "tool_call",
    "node_error", "agent_tools_loaded", "agent_tool_call", "agent_tool_result", "agent_tool_not_found",
    "child_fan_out_empty", "step_budget_exceeded", "template_security_error", "condition_error",
    "llm_usage",
]


def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


def _positional(func) -> list[str]:
    return [name for name, p in inspect.signature(func).parameters.items()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


# ------------------------------------------------------------------ module map


@pytest.mark.parametrize("module, names", MODULE_MAP, ids=[m for m, _ in MODULE_MAP])
def test_module_map(module, names):
    mod = importlib.import_module(module)
    missing = [name for name in names if not hasattr(mod, name)]
    assert missing == []


def test_soe_all_starts_with_the_16_names_in_order():
    import soe

    assert soe.__all__[:16] == FIRST_16
    assert len(set(soe.__all__)) == len(soe.__all__)
    for name in soe.__all__:
        assert hasattr(soe, name), name


def test_soe_all_includes_the_core_engine_errors():
    import soe

    for name in ["SoeError", "WorkflowValidationError", "TemplateSecurityError", "TemplateRenderError",
                 "StepBudgetExceeded"]:
        assert name in soe.__all__
        assert getattr(soe, name) is getattr(importlib.import_module("soe.types"), name)


def test_reexports_are_the_same_objects():
    import soe
    import soe.local_backends as lb
    import soe.local_backends.factory as lbf
    import soe.nodes
    import soe.types
    import soe.validation
    import soe.validation.config
    import soe.validation.operational

    for name in ["AgentRequest", "AgentResponse", "ToolNodeConfigurationError", "ToolParameterError"]:
        assert getattr(soe, name) is getattr(soe.nodes, name)
    for name in ["Backends", "CallLlm", *BACKEND_PROTOCOLS]:
        assert getattr(soe, name) is getattr(soe.types, name)
    assert lb.create_in_memory_backends is lbf.create_in_memory_backends
    assert lb.create_local_backends is lbf.create_local_backends
    for name in ["validate_config", "validate_workflow", "validate_orchestrate_params", "validate_initial_workflow"]:
        assert getattr(soe.validation, name) is getattr(soe.validation.config, name)
    assert soe.validation.validate_operational is soe.validation.operational.validate_operational
    assert soe.validation.OperationalValidationError is soe.validation.operational.OperationalValidationError
    tool_validation = importlib.import_module("soe.nodes.tool.validation")
    tool_config = importlib.import_module("soe.nodes.tool.validation.config")
    assert tool_validation.validate_node_config is tool_config.validate_node_config


@pytest.mark.parametrize("name", BUILTIN_ORDER)
def test_builtin_tool_modules(name):
    from soe.builtin_tools import BUILTIN_TOOLS, get_builtin_tool_factory

    module = importlib.import_module(f"soe.builtin_tools.{name}")
    factory = getattr(module, f"create_{name}_tool")
    assert BUILTIN_TOOLS[name] is factory
    assert get_builtin_tool_factory(name) is factory
    if name == "soe_explore_docs":
        assert _params(factory) == ["execution_id", "backends", "tools_registry"]
        assert all(p.default is None for p in inspect.signature(factory).parameters.values())
        assert factory() is module.soe_explore_docs
    elif name in CONTEXT_TOOLS:
        assert _params(factory) == ["backends", "execution_id", "tools_registry"]
        assert inspect.signature(factory).parameters["tools_registry"].default is None
    else:
        assert _params(factory) == ["execution_id", "backends", "tools_registry"]
        assert inspect.signature(factory).parameters["tools_registry"].default is None


def test_builtin_tools_key_order_and_unknown_lookup():
    from soe.builtin_tools import BUILTIN_TOOLS, get_builtin_tool_factory

    assert list(BUILTIN_TOOLS) == BUILTIN_ORDER
    assert get_builtin_tool_factory("nope") is None


def test_registry_module():
    registry = pytest.importorskip("soe.registry", reason="soe.registry lands with the registry-revisions issue")
    import soe

    expected = {
        "inject_workflow": ["execution_id", "workflow_name", "definition", "backends"],
        "inject_node": ["execution_id", "workflow_name", "node_name", "node_config", "backends"],
        "remove_workflow": ["execution_id", "workflow_name", "backends"],
        "remove_node": ["execution_id", "workflow_name", "node_name", "backends"],
        "add_signal": ["execution_id", "workflow_name", "node_name", "signal_name", "condition", "backends"],
    }
    for name, params in expected.items():
        assert _params(getattr(registry, name)) == params, name
    if "get_registry_revisions" in soe.__all__:
        assert _params(soe.get_registry_revisions) == ["execution_id", "backends"]
        assert _params(soe.rollback_registry) == ["execution_id", "revision", "backends"]


def test_llm_module():
    llm = pytest.importorskip("soe.llm", reason="soe.llm lands with the provider-adapters issue")
    from soe.types import SoeError

    assert callable(llm.report_usage)
    assert _params(llm.report_usage) == ["prompt_tokens", "completion_tokens"]
    llm.report_usage(1, 2)  # a no-op outside a call_llm invocation
    assert issubclass(llm.ProviderError, SoeError)


def test_optional_tool_parameter_helpers():
    params = pytest.importorskip("soe.nodes.tool.lib.parameters",
                                 reason="optional helpers of SPEC §1.7, not in the §1.1 module map")
    from soe import ToolParameterError

    assert _params(params.extract_tool_parameters) == ["context", "field"]
    assert _params(params.validate_tool_parameters) == ["func", "params", "tool_name"]
    assert ToolParameterError


# ---------------------------------------------------------------- exceptions


def test_error_class_bases():
    import soe
    import soe.types as t
    from soe.validation.operational import OperationalValidationError

    assert t.SoeError.__bases__ == (Exception,)
    assert issubclass(t.WorkflowValidationError, t.SoeError)
    assert issubclass(OperationalValidationError, t.SoeError)
    assert not issubclass(OperationalValidationError, t.WorkflowValidationError)
    assert issubclass(t.ConfigShapeError, t.WorkflowValidationError)
    assert issubclass(t.ConfigShapeError, AttributeError)
    for name in ["TemplateSecurityError", "TemplateRenderError", "StepBudgetExceeded", "ResumeError",
                 "BudgetExceeded"]:
        cls = getattr(t, name)
        assert issubclass(cls, t.SoeError), name
        assert not issubclass(cls, t.WorkflowValidationError), name
    assert not issubclass(t.TemplateSecurityError, t.TemplateRenderError)
    assert not issubclass(t.TemplateRenderError, t.TemplateSecurityError)
    assert soe.ToolNodeConfigurationError.__bases__ == (Exception,)
    assert soe.ToolParameterError.__bases__ == (Exception,)
    if "BudgetExceeded" in soe.__all__:
        assert soe.BudgetExceeded is t.BudgetExceeded


def test_config_shape_error_is_caught_as_either_parent():
    from soe.types import ConfigShapeError, WorkflowValidationError

    for parent in (WorkflowValidationError, AttributeError):
        with pytest.raises(parent):
            raise ConfigShapeError("x")


def test_error_attributes():
    from soe.types import (
        BudgetExceeded,
        StepBudgetExceeded,
        TemplateRenderError,
        TemplateSecurityError,
    )

    step = StepBudgetExceeded("e", "m", 5, 5)
    assert (step.execution_id, step.main_execution_id, step.max_steps, step.steps) == ("e", "m", 5, 5)
    assert str(step) == "Step budget of 5 node runs exceeded in execution 'e' (main execution 'm')"
    for cls in (TemplateSecurityError, TemplateRenderError):
        error = cls("msg", node_name="n", field="prompt", template="{{ x }}")
        assert (str(error), error.node_name, error.field, error.template) == ("msg", "n", "prompt", "{{ x }}")
    budget = BudgetExceeded("max_llm_calls", 3, 3, "e")
    assert (budget.limit_name, budget.limit, budget.used) == ("max_llm_calls", 3, 3)
    assert str(budget) == "max_llm_calls of 3 exceeded in execution 'e'"


def test_agent_request_and_response_models():
    from soe import AgentRequest, AgentResponse

    request = AgentRequest(agent_id="a", prompt="p", agent_config={})
    assert request.tool_responses == {}
    assert list(AgentRequest.model_fields) == ["agent_id", "prompt", "agent_config", "tool_responses"]
    response = AgentResponse()
    assert response.model_dump() == {"output": None, "tool_calls": {}, "emitted_signals": [],
                                     "needs_clarification": False, "clarification_message": ""}
    assert AgentResponse().tool_calls is not response.tool_calls


# ---------------------------------------------------------------- EventTypes


def test_event_types_constants():
    from soe.types import EventTypes

    for event in EVENTS:
        assert getattr(EventTypes, event.upper()) == event
    constants = {name for name in vars(EventTypes) if name.isupper()}
    assert constants == {event.upper() for event in EVENTS}
    assert EventTypes.ORCHESTRATION_START == "orchestration_start"
    assert EventTypes.AGENT_TOOL_NOT_FOUND == "agent_tool_not_found"


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize("node_type, params", [
    ("router", ["backends", "broadcast_signals_caller"]),
    ("llm", ["backends", "call_llm", "broadcast_signals_caller"]),
    ("agent", ["backends", "tools", "call_llm", "broadcast_signals_caller"]),
    ("tool", ["backends", "tools_registry", "broadcast_signals_caller"]),
    ("child", ["backends", "orchestrate_caller"]),
])
def test_node_factory_signatures(node_type, params):
    module = importlib.import_module(f"soe.nodes.{node_type}.factory")
    factory = getattr(module, f"create_{node_type}_node_caller")
    assert _params(factory) == params
    assert _positional(factory) == params


def test_orchestrate_signature():
    from soe import orchestrate

    sig = inspect.signature(orchestrate)
    assert _positional(orchestrate) == [
        "config", "initial_workflow_name", "initial_signals", "initial_context", "backends",
        "broadcast_signals_caller", "inherit_config_from_id", "inherit_context_from_id"]
    for name in ["inherit_config_from_id", "inherit_context_from_id"]:
        assert sig.parameters[name].default is None
    for name in ["config", "initial_workflow_name", "initial_signals", "initial_context", "backends",
                 "broadcast_signals_caller"]:
        assert sig.parameters[name].default is inspect.Parameter.empty
    keyword_only = [n for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert keyword_only == ["max_steps", "max_concurrency", "execution_id"]
    for name in keyword_only:
        assert sig.parameters[name].default is None
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values())


def test_orchestrate_keyword_only_arguments_cannot_be_positional(backends):
    from soe import create_all_nodes, orchestrate

    _, broadcast = create_all_nodes(backends)
    config = {"wf": {"R": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "D"}]}}}
    with pytest.raises(TypeError):
        orchestrate(config, "wf", ["START"], {}, backends, broadcast, None, None, 10)
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast, None, None, max_steps=10,
                      max_concurrency=1, execution_id="chosen-id")
    assert eid == "chosen-id"


def test_other_signatures():
    from soe import broadcast_signals, create_all_nodes, setup_orchestration
    from soe.lib.context_fields import get_accumulated, get_field, set_field
    from soe.lib.jinja_render import get_context_for_prompt, render_prompt
    from soe.lib.schema_validation import schema_to_pydantic, schema_to_root_model
    from soe.lib.yaml_parser import parse_yaml
    from soe.local_backends.factory import LocalBackends
    from soe.validation import validate_initial_workflow, validate_orchestrate_params
    from soe.validation.operational import validate_backends, validate_operational

    assert _positional(broadcast_signals) == ["id", "signals", "nodes", "backends"]
    sig = inspect.signature(create_all_nodes)
    assert _params(create_all_nodes) == ["backends", "call_llm", "tools_registry", "confine_builtin_tools"]
    assert sig.parameters["call_llm"].default is None and sig.parameters["tools_registry"].default is None
    # issue 13: a keyword-only addition, so SPEC's positional form is unchanged
    assert sig.parameters["confine_builtin_tools"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["confine_builtin_tools"].default is False
    sig = inspect.signature(setup_orchestration)
    assert _params(setup_orchestration) == ["call_llm", "tools_registry", "use_local_storage", "storage_dir"]
    assert [sig.parameters[n].default for n in _params(setup_orchestration)] == [
        None, None, False, "./orchestration_data"]
    assert _positional(get_context_for_prompt) == ["full_context", "template"]
    assert _positional(render_prompt) == ["template", "ctx"]
    assert _params(parse_yaml) == ["data"]
    assert _params(set_field) == ["ctx", "field", "value"]
    assert _params(get_field) == ["ctx", "field"]
    assert _params(get_accumulated) == ["ctx", "field"]
    assert _params(validate_initial_workflow) == ["initial_workflow_name", "registry"]
    assert _params(validate_orchestrate_params) == ["initial_workflow_name", "initial_signals"]
    assert _params(validate_operational) == ["execution_id", "backends"]
    assert _params(validate_backends) == ["backends"]
    assert _params(schema_to_pydantic) == ["schema", "model_name"]
    assert inspect.signature(schema_to_pydantic).parameters["model_name"].default == "DynamicModel"
    assert _params(schema_to_root_model) == ["field_def", "model_name"]
    assert inspect.signature(schema_to_root_model).parameters["model_name"].default == "RootModel"
    assert _params(LocalBackends) == ["context_backend", "workflow_backend", "telemetry_backend",
                                      "conversation_history_backend", "context_schema_backend", "identity_backend"]
    for node_type in NODE_TYPES:
        module = importlib.import_module(f"soe.nodes.{node_type}.validation.operational")
        assert _params(getattr(module, f"validate_{node_type}_node_runtime")) == ["execution_id", "backends"]


def test_create_all_nodes_keys_and_order(backends):
    from soe import create_all_nodes

    nodes, broadcast = create_all_nodes(backends)
    assert list(nodes) == ["router", "child"]
    nodes, _ = create_all_nodes(backends, call_llm=lambda messages, response_model: "{}", tools_registry={})
    assert list(nodes) == ["router", "llm", "agent", "tool", "child"]
    assert callable(broadcast)


# ------------------------------------------------------------ backend factories


SUBFOLDERS = ["contexts", "workflows", "telemetry", "conversations", "schemas", "identities"]


def test_create_local_backends_one_positional_argument_is_a_base_directory(tmp_path):
    from soe.local_backends import create_local_backends

    base = tmp_path / "data"
    backends = create_local_backends(str(base))
    for folder in SUBFOLDERS:
        assert (base / folder).is_dir(), folder
    for attribute in ["context", "workflow", "telemetry", "conversation_history", "context_schema", "identity"]:
        assert getattr(backends, attribute) is not None, attribute
    assert Path(backends.context.storage_dir) == base / "contexts"


def test_create_local_backends_base_directory_accepts_a_path_and_overrides(tmp_path):
    from soe.local_backends import create_local_backends

    base = tmp_path / "data"
    backends = create_local_backends(base, telemetry_storage_dir=None, context_storage_dir=str(tmp_path / "ctx"))
    assert backends.telemetry is None
    assert Path(backends.context.storage_dir) == tmp_path / "ctx"
    assert (base / "workflows").is_dir()


def test_create_local_backends_keywords_only_has_no_telemetry(tmp_path, monkeypatch):
    from soe.local_backends import create_local_backends

    monkeypatch.chdir(tmp_path)
    backends = create_local_backends()
    assert backends.telemetry is None
    assert Path(backends.context.storage_dir).resolve() == (tmp_path / "orchestration_data" / "contexts").resolve()
    assert backends.conversation_history is not None


def test_create_local_backends_several_positionals_map_in_keyword_order(tmp_path):
    from soe.local_backends import create_local_backends

    backends = create_local_backends(str(tmp_path / "c"), str(tmp_path / "w"), str(tmp_path / "t"))
    assert Path(backends.context.storage_dir) == tmp_path / "c"
    assert (tmp_path / "w").is_dir()
    assert backends.telemetry is not None
    assert (tmp_path / "t").is_dir()


def test_create_in_memory_backends_has_all_six(backends):
    for attribute in ["context", "workflow", "telemetry", "conversation_history", "context_schema", "identity"]:
        assert getattr(backends, attribute) is not None, attribute
