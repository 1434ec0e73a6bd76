"""Backend protocols, caller shapes, event names and the error classes.

Backends are small structural protocols: any object with these methods works,
no inheritance needed. Optional methods (``append_to_field``,
``update_operational``, ``save_registry_revision``, ``get_registry_revisions``)
are used when present and replaced by a documented fallback otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from soe._errors import (
    BudgetExceeded,
    CallTimeout,
    ConfigShapeError,
    ResumeError,
    SoeError,
    StepBudgetExceeded,
    StoreError,
    TemplateRenderError,
    TemplateSecurityError,
    WorkflowValidationError,
)

__all__ = [
    "Backends",
    "BroadcastSignalsCaller",
    "BudgetExceeded",
    "CallLlm",
    "CallTimeout",
    "ConfigShapeError",
    "ContextBackend",
    "ContextSchemaBackend",
    "ExternalRunner",
    "ConversationHistoryBackend",
    "EventTypes",
    "IdentityBackend",
    "NodeCaller",
    "OrchestrateCaller",
    "ResumeError",
    "SoeError",
    "StepBudgetExceeded",
    "StoreError",
    "TelemetryBackend",
    "TemplateRenderError",
    "TemplateSecurityError",
    "WorkflowBackend",
    "WorkflowValidationError",
]


class EventTypes:
    """Telemetry event names (SPEC §12.2); each attribute is its upper-cased value."""

    ORCHESTRATION_START = "orchestration_start"
    CONFIG_INHERITANCE_START = "config_inheritance_start"
    CONTEXT_INHERITANCE_START = "context_inheritance_start"
    CONTEXT_MERGE = "context_merge"
    SIGNALS_BROADCAST = "signals_broadcast"
    NODE_EXECUTION = "node_execution"
    SIGNALS_TO_PARENT = "signals_to_parent"
    LLM_CALL = "llm_call"
    CONTEXT_WARNING = "context_warning"
    TOOL_CALL = "tool_call"
    NODE_ERROR = "node_error"
    AGENT_TOOLS_LOADED = "agent_tools_loaded"
    AGENT_TOOL_CALL = "agent_tool_call"
    AGENT_TOOL_RESULT = "agent_tool_result"
    AGENT_TOOL_NOT_FOUND = "agent_tool_not_found"
    CHILD_FAN_OUT_EMPTY = "child_fan_out_empty"
    STEP_BUDGET_EXCEEDED = "step_budget_exceeded"
    TEMPLATE_SECURITY_ERROR = "template_security_error"
    CONDITION_ERROR = "condition_error"
    LLM_USAGE = "llm_usage"


@runtime_checkable
class ContextBackend(Protocol):
    """Per-execution context storage (required)."""

    def save_context(self, id: str, context: dict[str, Any]) -> None: ...
    def get_context(self, id: str) -> dict[str, Any]: ...


@runtime_checkable
class WorkflowBackend(Protocol):
    """Per-execution workflows registry and current workflow name (required)."""

    def save_workflows_registry(self, id: str, workflows: dict[str, Any]) -> None: ...
    def get_workflows_registry(self, id: str) -> dict[str, Any]: ...
    def save_current_workflow_name(self, id: str, name: str) -> None: ...
    def get_current_workflow_name(self, id: str) -> str: ...


@runtime_checkable
class TelemetryBackend(Protocol):
    """Event sink (optional)."""

    def log_event(self, execution_id: str, event_type: str, **event_data: Any) -> None: ...


@runtime_checkable
class ConversationHistoryBackend(Protocol):
    """Conversation history keyed by main execution id (optional)."""

    def get_conversation_history(self, key: str) -> list[Any]: ...
    def append_to_conversation_history(self, key: str, entry: dict[str, Any]) -> None: ...
    def save_conversation_history(self, key: str, history: list[Any]) -> None: ...
    def delete_conversation_history(self, key: str) -> None: ...


@runtime_checkable
class ContextSchemaBackend(Protocol):
    """Output schemas per execution (optional)."""

    def save_context_schema(self, execution_id: str, schema: dict[str, Any]) -> None: ...
    def get_context_schema(self, execution_id: str) -> dict[str, Any] | None: ...
    def delete_context_schema(self, execution_id: str) -> bool: ...


@runtime_checkable
class IdentityBackend(Protocol):
    """System prompts per execution (optional)."""

    def save_identities(self, execution_id: str, identities: dict[str, Any]) -> None: ...
    def get_identities(self, execution_id: str) -> dict[str, Any] | None: ...
    def get_identity(self, execution_id: str, name: str) -> str | None: ...
    def delete_identities(self, execution_id: str) -> bool: ...


@runtime_checkable
class ExternalRunner(Protocol):
    """Runs whole execution trees elsewhere, e.g. ``soe.temporal.Runner``; ``orchestrate(runner=...)`` hands it the tree."""

    def orchestrate(self, config: Any, workflow_name: str, signals: list[str],
                    context: dict[str, Any] | None = None, **options: Any) -> str: ...

    async def aorchestrate(self, config: Any, workflow_name: str, signals: list[str],
                           context: dict[str, Any] | None = None, **options: Any) -> str: ...


class Backends(Protocol):
    """The container: six attributes, the optional ones may be ``None``."""

    context: ContextBackend
    workflow: WorkflowBackend
    telemetry: TelemetryBackend | None
    conversation_history: ConversationHistoryBackend | None
    context_schema: ContextSchemaBackend | None
    identity: IdentityBackend | None


class BroadcastSignalsCaller(Protocol):
    """``broadcast(execution_id, signals)``: deliver signals to an execution."""

    def __call__(self, execution_id: str, signals: list[str]) -> None: ...


class NodeCaller(Protocol):
    """``caller(execution_id, node_config)``: run one node of a node type."""

    def __call__(self, execution_id: str, node_config: dict[str, Any]) -> None: ...


class OrchestrateCaller(Protocol):
    """How a child node starts a workflow."""

    def __call__(
        self,
        config: Any,
        initial_workflow_name: str,
        initial_signals: list[str],
        initial_context: dict[str, Any],
        backends: Any,
        inherit_config_from_id: str | None = None,
        inherit_context_from_id: str | None = None,
    ) -> str: ...


CallLlm = Callable[[list[dict[str, Any]], type[BaseModel] | None], str | BaseModel] | Callable[[str, dict[str, Any]], str]
"""Either call form of SPEC §7.1: ``(messages, response_model)`` or ``(prompt, config)``."""
