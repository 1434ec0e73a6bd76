"""Exact prompt texts of the LLM contract (SPEC §7.2).

Callers match these strings character for character, so every literal here is
normative; do not reword them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "ROUTER_INSTRUCTIONS",
    "build_prompt_text",
    "error_feedback",
    "format_instructions",
    "retry_suffix",
    "router_instructions",
]

ROUTER_INSTRUCTIONS: dict[str, str] = {
    "base": "Decide the next action: 'call_tool' to use a tool, or 'finish' if task is complete.",
    "initial": (
        "INITIAL EXECUTION:\n"
        "1. Analyze the task and available context\n"
        "2. Determine if you need additional information from tools\n"
        "3. If tools are needed, choose 'call_tool' and specify which tool\n"
        "4. If you have enough information to complete the task, choose 'finish'\n"
        "\n"
        "IMPORTANT: Only call tools that are NECESSARY. Be selective."
    ),
    "tool_response": (
        "TOOL RESPONSE RECEIVED:\n"
        "Your previous tool call was successful. Review the results in conversation history.\n"
        "\n"
        "NEXT STEPS:\n"
        "1. Analyze if the tool response provides what you need\n"
        "2. If more information is needed, call another tool\n"
        "3. If task can now be completed, choose 'finish'\n"
        "\n"
        "Do NOT re-call tools that already succeeded."
    ),
    "tool_error": (
        "TOOL ERROR OCCURRED:\n"
        "Your previous tool call failed. Review the error in conversation history.\n"
        "\n"
        "RECOVERY:\n"
        "1. Understand what went wrong\n"
        "2. Fix parameters and retry the failed tool, OR\n"
        "3. Try a different approach with another tool\n"
        "4. If task can be completed despite the error, choose 'finish'"
    ),
    "retry": (
        "RETRY NEEDED:\n"
        "A system error occurred (e.g., invalid tool name). Review the error.\n"
        "\n"
        "RECOVERY:\n"
        "1. Check that tool names match available tools exactly\n"
        "2. Use a valid tool name and try again\n"
        "3. If no tools are needed, choose 'finish'"
    ),
}


def router_instructions(state: str) -> str:
    """The router ``instructions`` for an execution state; the base line alone if unknown."""
    base = ROUTER_INSTRUCTIONS["base"]
    block = ROUTER_INSTRUCTIONS.get(state) if state != "base" else None
    return base if block is None else base + "\n\n" + block


@lru_cache(maxsize=1024)
def format_instructions(response_model: type[BaseModel]) -> str:
    """The schema instructions; cached because schema generation is costly per call."""
    return (
        "Respond ONLY with a valid JSON object matching this schema:\n"
        + json.dumps(response_model.model_json_schema())
        + "\nDo not return the schema itself. Return a JSON instance of the schema."
    )


def build_prompt_text(payload: dict[str, Any], response_model: type[BaseModel]) -> str:
    """First-attempt prompt: compact payload JSON, a blank line, the format instructions."""
    payload_json = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return payload_json + "\n\n" + format_instructions(response_model)


def error_feedback(exc: ValueError) -> str:
    """What the next attempt is told about why the previous response was rejected."""
    if isinstance(exc, ValidationError):
        lines = "\n".join(
            f"  - {'.'.join(str(part) for part in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        return f"\n\nValidation failed. Fix these fields:\n{lines}\n\nRespond with valid JSON."
    return f"\n\nJSON parse error: {exc}. Output valid JSON."


def retry_suffix(raw_response: str, exc: ValueError) -> str:
    """Text appended to the prompt after a failed attempt (it accumulates)."""
    return "\n\nPrevious response: " + raw_response + error_feedback(exc)
