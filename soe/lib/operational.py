"""The ``__operational__`` block: its initial shape and how events change it (SPEC §3.2).

One pure function applies an event, so the engine's read-modify-write fallback
and every backend's atomic ``update_operational`` agree by construction.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COUNTED_EVENTS",
    "REQUIRED_KEYS",
    "apply_operational_event",
    "changes_operational",
    "new_operational",
]

REQUIRED_KEYS = ("signals", "nodes", "llm_calls", "tool_calls", "errors", "main_execution_id")

COUNTED_EVENTS = frozenset(
    {"signals_broadcast", "node_execution", "llm_call", "tool_call", "agent_tool_call",
     "node_error", "llm_usage"}
)


def new_operational(main_execution_id: str) -> dict[str, Any]:
    """A fresh ``__operational__`` block, keys in the spec's order."""
    return {
        "signals": [],
        "nodes": {},
        "llm_calls": 0,
        "tool_calls": 0,
        "errors": 0,
        "main_execution_id": main_execution_id,
    }


def changes_operational(event_type: str, data: dict[str, Any]) -> bool:
    """Whether registering this event touches ``__operational__`` at all."""
    if event_type == "node_execution":
        return bool(data.get("node_name"))
    return event_type in COUNTED_EVENTS


def apply_operational_event(operational: dict[str, Any], event_type: str, data: dict[str, Any]) -> None:
    """Apply one event's counter change to ``operational`` in place."""
    if event_type == "signals_broadcast":
        operational["signals"].extend(data["signals"])
    elif event_type == "node_execution":
        name = data.get("node_name")
        if name:
            node_counts = operational["nodes"]
            node_counts[name] = node_counts.get(name, 0) + 1
    elif event_type == "llm_call":
        operational["llm_calls"] += 1
    elif event_type in ("tool_call", "agent_tool_call"):
        operational["tool_calls"] += 1
    elif event_type == "node_error":
        operational["errors"] += 1
    elif event_type == "llm_usage":
        operational["prompt_tokens"] = operational.get("prompt_tokens", 0) + data["prompt_tokens"]
        operational["completion_tokens"] = (
            operational.get("completion_tokens", 0) + data["completion_tokens"]
        )
