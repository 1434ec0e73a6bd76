"""SOE, the Signal-driven Orchestration Engine.

Workflows are YAML; nodes listen for signals and emit signals; all state is
one context per execution. Start with :func:`orchestrate` and
:func:`create_all_nodes`; backends live in :mod:`soe.local_backends`.
"""

import logging

from soe._errors import (
    BudgetExceeded,
    SoeError,
    StepBudgetExceeded,
    TemplateRenderError,
    TemplateSecurityError,
    WorkflowValidationError,
)
from soe.composition import create_all_nodes, setup_orchestration
from soe.engine.orchestrate import broadcast_signals, orchestrate
from soe.engine.resume import (
    aorchestrate,
    aresume,
    get_execution_status,
    list_executions,
    prune,
    resume,
)
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

__version__ = "0.2.0.dev0"
"""This release's version; ``pyproject.toml`` reads it from here (one place to change)."""

logging.getLogger("soe").addHandler(logging.NullHandler())  # silent unless the application configures logging

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
