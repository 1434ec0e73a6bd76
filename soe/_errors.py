"""SOE's exception tree.

::

    SoeError
    ├── WorkflowValidationError     invalid config or parameters; names workflow, node, field
    │   └── ConfigShapeError        a config or node config that is not a mapping (also AttributeError)
    ├── OperationalValidationError  invalid runtime state (soe.validation.operational)
    ├── StepBudgetExceeded          .execution_id .main_execution_id .max_steps .steps
    ├── BudgetExceeded              .limit_name .limit .used
    ├── TemplateSecurityError       .node_name .field .template
    ├── TemplateRenderError         .node_name .field .template
    ├── ResumeError                 resume of an unknown, failed or live execution
    ├── CallTimeout                 an LLM or tool call overran its node's timeout or limits.max_call_seconds
    ├── StoreError                  a value that cannot be stored, or a store write that failed
    └── ProviderError               transport failure in an LLM adapter (soe.llm)

Where the spec names a built-in exception (``ValueError``, ``KeyError``,
``RuntimeError``) the engine raises exactly that instead.
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "CallTimeout",
    "ConfigShapeError",
    "OperationalValidationError",
    "ProviderError",
    "ResumeError",
    "SoeError",
    "StepBudgetExceeded",
    "StoreError",
    "TemplateRenderError",
    "TemplateSecurityError",
    "WorkflowValidationError",
]


class SoeError(Exception):
    """Base class of every error SOE defines."""


class WorkflowValidationError(SoeError):
    """A config, node config or orchestrate parameter is invalid."""


class ConfigShapeError(WorkflowValidationError, AttributeError):
    """A parsed config or node config is not a mapping (upstream raised AttributeError)."""


class OperationalValidationError(SoeError):
    """An execution's stored state is missing or malformed."""


class StepBudgetExceeded(SoeError):
    """The execution tree started as many node activations as its budget allows."""

    def __init__(self, execution_id: str, main_execution_id: str, max_steps: int, steps: int):
        self.execution_id = execution_id
        self.main_execution_id = main_execution_id
        self.max_steps = max_steps
        self.steps = steps
        super().__init__(
            f"Step budget of {max_steps} node runs exceeded in execution '{execution_id}' "
            f"(main execution '{main_execution_id}')"
        )


class BudgetExceeded(SoeError):
    """An LLM-call or token budget of the execution tree is spent."""

    def __init__(self, limit_name: str, limit: int, used: int, execution_id: str):
        self.limit_name = limit_name
        self.limit = limit
        self.used = used
        self.execution_id = execution_id
        super().__init__(f"{limit_name} of {limit} exceeded in execution '{execution_id}'")


class _TemplateError(SoeError):
    """Common shape of the two template failures: which workflow and node, which field, which template.

    ``workflow_name`` is filled in by the node caller that rendered the
    template (the renderer only knows the node); the message keeps SPEC §15's
    exact text, so callers that show it add the workflow themselves.
    """

    def __init__(self, message: str, *, node_name: str, field: str, template: str,
                 workflow_name: str | None = None):
        self.node_name = node_name
        self.field = field
        self.template = template
        self.workflow_name = workflow_name
        super().__init__(message)


class TemplateSecurityError(_TemplateError):
    """A template tried to reach something the sandbox forbids; nothing ran."""


class TemplateRenderError(_TemplateError):
    """A prompt or tool-parameter template failed to render; nothing was sent.

    ``limit`` names the resource limit the render hit (a ``limits`` key such as
    ``max_template_output``), or is ``None`` for any other failure.
    """

    def __init__(self, message: str, *, node_name: str, field: str, template: str,
                 limit: str | None = None):
        self.limit = limit
        super().__init__(message, node_name=node_name, field=field, template=template)


class ResumeError(SoeError):
    """``resume`` was asked to continue an execution that is unknown, failed or live."""


class CallTimeout(SoeError, TimeoutError):
    """An LLM or tool call ran longer than its node's ``timeout`` or ``limits.max_call_seconds``; it was abandoned.

    Raised where the node awaited the call, so the node's failure handling
    (retries, failure signals) applies as for any failed call.
    """


class StoreError(SoeError):
    """A value could not be stored: it has no stored form, or the store's write failed.

    Either way nothing was half-written: the execution fails with this error,
    and a result already journaled (a paid LLM answer, a tool's side effect)
    stays journaled, so ``resume`` continues once the cause is fixed.
    """


class ProviderError(SoeError):
    """A provider adapter's transport or HTTP call failed after its own retries.

    ``request_id`` is the provider's id of the failed request (its
    ``x-request-id``/``request-id`` header), what its support asks for; the
    message and attributes never hold the API key.
    """

    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 retryable: bool = False, request_id: str | None = None):
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.request_id = request_id
        super().__init__(message)


PASSTHROUGH_ERRORS: tuple[type[BaseException], ...] = (
    TemplateSecurityError,
    TemplateRenderError,
    StepBudgetExceeded,
    BudgetExceeded,
    StoreError,
)
"""Errors no node handler catches: they end the call that ran the node (SPEC §4.5)."""
