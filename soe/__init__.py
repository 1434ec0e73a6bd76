"""SOE, the Signal-driven Orchestration Engine.

Workflows are YAML; nodes listen for signals and emit signals; all state is
one context per execution. Start with :func:`orchestrate` and
:func:`create_all_nodes`; backends live in :mod:`soe.local_backends`.
"""

from soe._errors import (
    BudgetExceeded,
    SoeError,
    StepBudgetExceeded,
    TemplateRenderError,
    TemplateSecurityError,
    WorkflowValidationError,
)
from soe.engine.orchestrate import broadcast_signals, orchestrate
from soe.engine.resume import (
    aorchestrate,
    aresume,
    get_execution_status,
    list_executions,
    prune,
    resume,
)
from soe.engine.setup import create_all_nodes, setup_orchestration
from soe.nodes import AgentRequest, AgentResponse, ToolNodeConfigurationError, ToolParameterError
from soe.registry import get_registry_revisions, rollback_registry
from soe.types import (
    Backends,
    CallLlm,
    ContextBackend,
    ContextSchemaBackend,
    ConversationHistoryBackend,
    IdentityBackend,
    TelemetryBackend,
    WorkflowBackend,
)

__all__ = [
    "orchestrate",
    "broadcast_signals",
    "create_all_nodes",
    "setup_orchestration",
    "AgentRequest",
    "AgentResponse",
    "ToolNodeConfigurationError",
    "ToolParameterError",
    "Backends",
    "ContextBackend",
    "WorkflowBackend",
    "TelemetryBackend",
    "ConversationHistoryBackend",
    "ContextSchemaBackend",
    "IdentityBackend",
    "CallLlm",
    "SoeError",
    "WorkflowValidationError",
    "TemplateSecurityError",
    "TemplateRenderError",
    "StepBudgetExceeded",
    "get_registry_revisions",
    "rollback_registry",
    "resume",
    "aorchestrate",
    "aresume",
    "get_execution_status",
    "list_executions",
    "prune",
    "BudgetExceeded",
]
