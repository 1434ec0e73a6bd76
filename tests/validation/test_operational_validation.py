"""Runtime-state checks of SPEC §13.3: ``validate_operational``, backends, per-node runtime."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import soe.validation.operational as operational_module
from soe._errors import OperationalValidationError, SoeError, WorkflowValidationError
from soe.lib.operational import new_operational
from soe.nodes.agent.validation.operational import validate_agent_node_runtime
from soe.nodes.child.validation.operational import validate_child_node_runtime
from soe.nodes.llm.validation.operational import validate_llm_node_runtime
from soe.nodes.router.validation.operational import validate_router_node_runtime
from soe.nodes.tool.validation.operational import validate_tool_node_runtime
from soe.validation.operational import validate_backends, validate_operational

EID = "exec-1"


class FakeContextBackend:
    def __init__(self, contexts: dict[str, Any]):
        self.contexts = contexts

    def get_context(self, execution_id: str) -> Any:
        return self.contexts.get(execution_id, {})


class FakeWorkflowBackend:
    """Records reads; ``fail`` makes every read raise, ``registry`` is what it returns."""

    def __init__(self, registry: Any = None, fail: bool = False):
        self.registry = {"main": {}} if registry is None else registry
        self.fail = fail
        self.calls: list[str] = []

    def _read(self, method: str, value: Any) -> Any:
        self.calls.append(method)
        if self.fail:
            raise ConnectionError("backend down")
        return value

    def get_current_workflow_name(self, execution_id: str) -> str:
        return self._read("get_current_workflow_name", "main")

    def get_workflows_registry(self, execution_id: str) -> Any:
        return self._read("get_workflows_registry", self.registry)


def make_backends(context: Any = None, **workflow_options: Any) -> SimpleNamespace:
    if context is None:
        context = {"user": ["ana"], "__operational__": new_operational(EID)}
    return SimpleNamespace(context=FakeContextBackend({EID: context}),
                           workflow=FakeWorkflowBackend(**workflow_options))


def with_operational(**changes: Any) -> dict:
    operational = new_operational(EID)
    for key, value in changes.items():
        if value is None:
            operational.pop(key)
        else:
            operational[key] = value
    return {"__operational__": operational}


OPERATIONAL_CASES = [
    ({}, f"No context found for execution_id '{EID}'. Context must be initialized before node "
         "execution."),
    ({"user": ["ana"]}, f"Missing '__operational__' in context for execution_id '{EID}'. "
                        "Call initialize_operational_context() before node execution."),
    (with_operational(nodes=None, errors=None),
     f"Invalid '__operational__' structure for execution_id '{EID}'. "
     "Missing fields: ['nodes', 'errors']"),
    (with_operational(main_execution_id=None),
     f"Invalid '__operational__' structure for execution_id '{EID}'. "
     "Missing fields: ['main_execution_id']"),
    ({"__operational__": {"signals": []}},
     f"Invalid '__operational__' structure for execution_id '{EID}'. "
     "Missing fields: ['nodes', 'llm_calls', 'tool_calls', 'errors', 'main_execution_id']"),
    ({"__operational__": None},
     f"Invalid '__operational__' structure for execution_id '{EID}'. Missing fields: "
     "['signals', 'nodes', 'llm_calls', 'tool_calls', 'errors', 'main_execution_id']"),
    (with_operational(signals="START"),
     "Invalid '__operational__.signals' - must be a list, got str"),
    (with_operational(signals=("START",)),
     "Invalid '__operational__.signals' - must be a list, got tuple"),
    (with_operational(nodes=[]), "Invalid '__operational__.nodes' - must be a dict, got list"),
    (with_operational(llm_calls="1"), "Invalid '__operational__.llm_calls' - must be an int, got str"),
    (with_operational(tool_calls=1.0),
     "Invalid '__operational__.tool_calls' - must be an int, got float"),
    (with_operational(errors=True), "Invalid '__operational__.errors' - must be an int, got bool"),
    # fields are checked in REQUIRED_KEYS order
    (with_operational(signals=1, errors="x"),
     "Invalid '__operational__.signals' - must be a list, got int"),
]


@pytest.mark.parametrize(("context", "message"), OPERATIONAL_CASES)
def test_validate_operational_messages(context: dict, message: str) -> None:
    with pytest.raises(OperationalValidationError) as info:
        validate_operational(EID, make_backends(context))
    assert str(info.value) == message


def test_validate_operational_returns_the_context() -> None:
    backends = make_backends()
    context = validate_operational(EID, backends)
    assert context == {"user": ["ana"], "__operational__": new_operational(EID)}


def test_token_counters_are_not_required() -> None:
    context = with_operational(prompt_tokens=10, completion_tokens=3)
    assert validate_operational(EID, make_backends(context)) == context


def test_operational_error_class() -> None:
    assert operational_module.OperationalValidationError is OperationalValidationError
    assert issubclass(OperationalValidationError, SoeError)
    assert not issubclass(OperationalValidationError, WorkflowValidationError)


@pytest.mark.parametrize(("backends", "name"), [
    (SimpleNamespace(workflow=object()), "context"),
    (SimpleNamespace(context=None, workflow=object()), "context"),
    (SimpleNamespace(context=object()), "workflow"),
    (SimpleNamespace(context=object(), workflow=None), "workflow"),
    (object(), "context"),
])
def test_validate_backends_messages(backends: Any, name: str) -> None:
    with pytest.raises(OperationalValidationError) as info:
        validate_backends(backends)
    assert str(info.value) == f"Invalid backends: missing required attribute '{name}'"


def test_validate_backends_accepts_optional_none() -> None:
    validate_backends(SimpleNamespace(context=object(), workflow=object(), telemetry=None))


RUNTIME_VALIDATORS = {
    "router": (validate_router_node_runtime, []),
    "tool": (validate_tool_node_runtime, []),
    "llm": (validate_llm_node_runtime, ["get_current_workflow_name"]),
    "agent": (validate_agent_node_runtime, ["get_current_workflow_name", "get_workflows_registry"]),
    "child": (validate_child_node_runtime, ["get_workflows_registry"]),
}


@pytest.mark.parametrize("node_type", sorted(RUNTIME_VALIDATORS))
def test_runtime_validator_returns_context_and_reads_backend(node_type: str) -> None:
    validator, reads = RUNTIME_VALIDATORS[node_type]
    backends = make_backends()
    assert validator(EID, backends) == {"user": ["ana"], "__operational__": new_operational(EID)}
    assert backends.workflow.calls == reads


@pytest.mark.parametrize("node_type", sorted(RUNTIME_VALIDATORS))
def test_runtime_validator_checks_operational_first(node_type: str) -> None:
    validator, _ = RUNTIME_VALIDATORS[node_type]
    backends = make_backends({"x": [1]}, fail=True)
    with pytest.raises(OperationalValidationError) as info:
        validator(EID, backends)
    assert str(info.value).startswith(f"Missing '__operational__' in context for execution_id '{EID}'")
    assert backends.workflow.calls == []


@pytest.mark.parametrize("node_type", ["llm", "agent", "child"])
def test_runtime_workflow_backend_failure(node_type: str) -> None:
    validator, _ = RUNTIME_VALIDATORS[node_type]
    with pytest.raises(OperationalValidationError) as info:
        validator(EID, make_backends(fail=True))
    assert str(info.value) == "Cannot access workflow backend: backend down"
    assert isinstance(info.value.__cause__, ConnectionError)


@pytest.mark.parametrize("node_type", ["router", "tool"])
def test_runtime_router_and_tool_do_not_touch_workflow_backend(node_type: str) -> None:
    validator, _ = RUNTIME_VALIDATORS[node_type]
    validator(EID, make_backends(fail=True))


def test_agent_registry_read_failure_is_wrapped() -> None:
    class RegistryDown(FakeWorkflowBackend):
        def get_workflows_registry(self, execution_id: str) -> Any:
            raise KeyError("registry")

    backends = make_backends()
    backends.workflow = RegistryDown()
    with pytest.raises(OperationalValidationError) as info:
        validate_agent_node_runtime(EID, backends)
    assert str(info.value) == "Cannot access workflow backend: 'registry'"


@pytest.mark.parametrize("registry", [{}, None])
def test_child_requires_a_registry(registry: Any) -> None:
    backends = make_backends()
    backends.workflow.registry = registry
    with pytest.raises(OperationalValidationError) as info:
        validate_child_node_runtime(EID, backends)
    assert str(info.value) == f"No workflows_registry found for execution_id '{EID}'"
