"""Agent node config rules (SPEC §13.2): the LLM rules plus ``max_iterations`` and ``tools``."""

from __future__ import annotations

from typing import Any

from soe.validation.nodes.rules import LlmStyleTexts, validate_llm_style

__all__ = ["validate_node_config"]

_TEXTS = LlmStyleTexts(
    triggers_required="'event_triggers' is required - specify which signals activate this agent",
    triggers_list="'event_triggers' must be a list, e.g., [\"START\", \"RETRY\"]",
    prompt_required="'prompt' is required - provide the agent's task description or instructions",
    input_fields=(
        "'input_fields' is no longer supported for Agent nodes. "
        "Use Jinja syntax in prompts instead: {{ context.field_name }}"
    ),
    output_field=(
        "'output_field' must be a string - the context field name to store the agent's output"
    ),
    max_iterations="'max_iterations' must be a positive integer (default is 25)",
    tools="'tools' must be a list of tool names available to the agent",
)


def validate_node_config(node_config: Any) -> None:
    """Raise ``WorkflowValidationError`` with the first failing agent rule."""
    validate_llm_style(node_config, _TEXTS)
