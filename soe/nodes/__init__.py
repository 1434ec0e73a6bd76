"""Node types. Each type is one package: ``factory.py`` builds its caller, ``validation/`` checks it.

The models and errors below are exported for compatibility with SOE 0.1.4;
the engine does not use them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["AgentRequest", "AgentResponse", "ToolNodeConfigurationError", "ToolParameterError"]


class AgentRequest(BaseModel):
    """Compatibility model: a request to an agent."""

    agent_id: str
    prompt: str
    agent_config: dict[str, Any]
    tool_responses: dict[str, Any] = {}


class AgentResponse(BaseModel):
    """Compatibility model: an agent's answer."""

    output: Any = None
    tool_calls: dict[str, Any] = {}
    emitted_signals: list[str] = []
    needs_clarification: bool = False
    clarification_message: str = ""


class ToolNodeConfigurationError(Exception):
    """Exported for compatibility; never raised by the engine."""


class ToolParameterError(Exception):
    """Raised only by the optional helpers in ``soe.nodes.tool.lib.parameters``."""
