"""The structured request: what an adapter that declares it receives instead of §7's flat prompt.

A user's ``call_llm`` gets SPEC §7 to the byte: one user message holding the
payload JSON and the format instructions. An adapter can do much better with
the parts (the identity as a real ``system`` message, history as chat turns,
the output field's schema and description, the signal options, the agent's
tools as provider tools, the node's model options), so a callable that sets
``soe_request_protocol = 1`` (see :class:`StructuredLLM` and :func:`structured_llm`)
is called as ``call_llm(request)`` with one :class:`LlmRequest`. Its answers
are read exactly as §7.1 reads any answer, and retries still follow §7.6.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

__all__ = [
    "NODE_OPTION_KEYS",
    "REQUEST_PROTOCOL",
    "LlmRequest",
    "SignalOption",
    "Stage",
    "StructuredLLM",
    "ToolSpec",
    "accepts_request",
    "node_options",
    "structured_llm",
]

REQUEST_PROTOCOL = 1
"""The version of :class:`LlmRequest` a callable declares with ``soe_request_protocol``."""

NODE_OPTION_KEYS = ("model", "temperature", "max_tokens", "top_p", "seed", "stop")
"""Node keys read as model options; provider-specific extras go in the node's ``llm_options`` mapping."""

Stage = Literal["llm", "router", "parameter", "response"]


@dataclass(frozen=True)
class SignalOption:
    """One signal the model may select (LLM-selection mode, SPEC §6.3): its name and condition."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class ToolSpec:
    """An agent tool as providers describe functions: name, docstring and JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class LlmRequest:
    """Everything one structured request is made of, before any provider formatting.

    ``history`` holds the conversation as chat turns (``role`` ``user`` or
    ``assistant``, plus agent ``tool``/``tool_error``/``system_error`` entries
    as the loop recorded them); the identity's prompt is ``system``.
    ``response_model`` is what the answer is validated against (§7.3, §7.4);
    ``feedback`` is the accumulated "Previous response…" text of failed attempts
    (empty on the first). ``text`` is the §7.2 prompt an adapter may fall back to.
    """

    stage: Stage
    prompt: str
    response_model: type[BaseModel]
    text: str
    context: str = ""
    system: str | None = None
    history: tuple[Mapping[str, Any], ...] = ()
    instructions: str = ""
    output_field: str | None = None
    field_description: str = ""
    signals: tuple[SignalOption, ...] = ()
    exclusive_signals: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    feedback: str = ""


@runtime_checkable
class StructuredLLM(Protocol):
    """A ``call_llm`` that takes an :class:`LlmRequest` (``soe_request_protocol = 1``).

    It returns what any ``call_llm`` may return (§7.1): an instance of
    ``request.response_model`` (the router stage also accepts
    ``{"action", "tool_name", "arguments"}`` so one request can choose a tool
    and its arguments), a mapping, or text to parse. It raises only for
    transport failures, as :class:`soe.llm.ProviderError`.
    """

    soe_request_protocol: int

    def __call__(self, request: LlmRequest) -> Any: ...


F = TypeVar("F", bound=Callable[..., Any])


def structured_llm(func: F) -> F:
    """Mark ``func(request)`` as taking :class:`LlmRequest` (sets ``soe_request_protocol``)."""
    func.soe_request_protocol = REQUEST_PROTOCOL  # type: ignore[attr-defined]
    return func


def accepts_request(call_llm: Any) -> bool:
    """Whether ``call_llm`` declared the structured request protocol."""
    return getattr(call_llm, "soe_request_protocol", None) == REQUEST_PROTOCOL


def node_options(node_config: Mapping[str, Any]) -> dict[str, Any]:
    """The model options a node sets: ``model``, ``temperature``, … then its ``llm_options`` extras."""
    options = {key: node_config[key] for key in NODE_OPTION_KEYS if node_config.get(key) is not None}
    extras = node_config.get("llm_options")
    if isinstance(extras, Mapping):
        options.update(extras)
    return options
