"""What LLM and agent nodes share: history, output schema, call accounting, completion signals."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from soe.engine.budgets import charge_llm_call, charge_tokens
from soe.engine.telemetry import register_event
from soe.lib.schema_validation import root_model_for_field
from soe.nodes._emissions import EmissionMode, condition_reporter, evaluate_emissions
from soe.types import Backends, EventTypes

__all__ = [
    "complete",
    "open_history",
    "output_root_model",
    "register_llm_call",
    "usage_recorder",
]


def open_history(backends: Backends, ctx: Mapping[str, Any], identity: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """The history key and list for a node, starting it with the identity's system prompt.

    History is on iff the node has an identity and a history backend exists;
    its key is the main execution id, shared by every node of the tree.
    """
    history_backend = backends.conversation_history
    if not identity or history_backend is None:
        return None, []
    key = ctx["__operational__"]["main_execution_id"]
    history = history_backend.get_conversation_history(key)
    if not history and backends.identity is not None:
        system_prompt = (backends.identity.get_identities(key) or {}).get(identity)
        if isinstance(system_prompt, str) and system_prompt:
            history = [{"role": "system", "content": system_prompt}]
            history_backend.save_conversation_history(key, history)
    return key, list(history)


def output_root_model(backends: Backends, main_id: str, output_field: str | None) -> Any:
    """The root model for ``output_field`` from the context schema, warning when absent."""
    if not output_field or backends.context_schema is None:
        return None
    schema = backends.context_schema.get_context_schema(main_id)
    if not schema or output_field not in schema:
        register_event(backends, main_id, EventTypes.CONTEXT_WARNING, {
            "message": f"Output field '{output_field}' not found in context schema",
            "output_field": output_field,
        })
        return None
    return root_model_for_field(output_field, schema[output_field])


def register_llm_call(backends: Backends, execution_id: str, data: dict[str, Any]) -> None:
    """Account for one structured request (retries are not requests), within the tree's budget."""
    charge_llm_call(execution_id)
    register_event(backends, execution_id, EventTypes.LLM_CALL, data)


def usage_recorder(backends: Backends, execution_id: str) -> Callable[[Any], None]:
    """The hook run after a ``call_llm`` invocation that reported token usage."""

    def record(usage: Any) -> None:
        register_event(backends, execution_id, EventTypes.LLM_USAGE, {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        })
        charge_tokens(execution_id, usage.prompt_tokens + usage.completion_tokens)

    return record


def complete(broadcast: Callable[[str, list[Any]], None], execution_id: str, node_config: Mapping[str, Any],
             mode: EmissionMode, ctx: dict[str, Any], selected: Sequence[Any], backends: Backends) -> None:
    """Emit an LLM or agent node's completion signals (SPEC §6.3)."""
    emissions = node_config.get("event_emissions") or []
    if mode == "jinja":
        signals = evaluate_emissions(emissions, ctx, node_name=node_config.get("name", "unknown"),
                                     report=condition_reporter(backends, execution_id))
    elif mode == "select":
        signals = list(selected)
    elif mode == "single":
        signals = [emissions[0].get("signal_name")] if emissions[0].get("signal_name") else []
    else:
        signals = []
    if signals:
        broadcast(execution_id, signals)
