"""LLM node config rules (SPEC §13.2); shared with the agent, only the wording is the LLM's."""

from __future__ import annotations

from typing import Any

from soe.validation.nodes.rules import LlmStyleTexts, validate_llm_style

__all__ = ["validate_node_config"]

_TEXTS = LlmStyleTexts(
    triggers_required="'event_triggers' is required - specify which signals activate this LLM node",
    triggers_list="'event_triggers' must be a list, e.g., [\"START\", \"PROCESS\"]",
    prompt_required="'prompt' is required - provide the prompt template for the LLM",
    input_fields=(
        "'input_fields' is no longer supported for LLM nodes. "
        "Use Jinja syntax in prompts instead: {{ context.field_name }}"
    ),
    output_field="'output_field' must be a string - the context field name to store the LLM response",
)


def validate_node_config(node_config: Any) -> None:
    """Raise ``WorkflowValidationError`` with the first failing LLM rule."""
    validate_llm_style(node_config, _TEXTS)
