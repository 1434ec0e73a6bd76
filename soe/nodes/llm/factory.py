"""LLM node caller (SPEC §5.2)."""

from __future__ import annotations

from typing import Any

from soe._errors import PASSTHROUGH_ERRORS, ProviderError
from soe.engine.output import store_output
from soe.engine.telemetry import register_event
from soe.lib.effects import Steps
from soe.lib.jinja_render import context_json, get_context_for_prompt, render_prompt
from soe.llm.contract import (
    build_response_model,
    call_structured,
    extract_output,
    extract_selected_signals,
    signal_options,
)
from soe.nodes._caller import NodeCallerFn, node_caller
from soe.nodes._emissions import emission_mode
from soe.nodes._llm_common import (
    complete,
    open_history,
    output_root_model,
    register_llm_call,
    usage_recorder,
)
from soe.nodes._requests import node_request
from soe.nodes.llm.validation import validate_node_config
from soe.nodes.llm.validation.operational import validate_llm_node_runtime
from soe.validation.nodes.rules import validate_once

__all__ = ["create_llm_node_caller"]


def _history_text(history: list[dict]) -> str:
    return "\n".join(f"[{entry.get('role')}]: {entry.get('content')}" for entry in history)


def create_llm_node_caller(backends: Any, call_llm: Any, broadcast_signals_caller: Any) -> NodeCallerFn:
    """Build the caller that makes one structured LLM call and stores its output."""

    @node_caller(backends)
    def llm(execution_id: str, node_config: dict) -> Steps[None]:
        ctx = validate_llm_node_runtime(execution_id, backends)
        validate_once(validate_node_config, node_config)
        node_name = node_config.get("name", "unknown")
        main_id = ctx["__operational__"]["main_execution_id"]
        identity = node_config.get("identity")
        output_field = node_config.get("output_field")
        history_key, history = open_history(backends, ctx, identity)
        fields, _ = get_context_for_prompt(ctx, node_config["prompt"])
        root_model = output_root_model(backends, main_id, output_field)
        mode = emission_mode(node_config.get("event_emissions"))
        options = signal_options(node_config.get("event_emissions")) if mode == "select" else []
        register_llm_call(backends, execution_id, {"identity": identity or None})
        rendered, warnings = render_prompt(node_config["prompt"], ctx, node_name=node_name)
        if warnings:
            register_event(backends, execution_id, "context_warning", {"warnings": warnings})
        response_model = build_response_model(output_field, root_model, options)
        payload = {
            "prompt": rendered,
            "context": context_json(fields) if fields else "",
            "conversation_history": _history_text(history),
        }
        request = node_request(call_llm, backends, main_id, node_config, stage="llm", prompt=rendered,
                               context=payload["context"], history=history,
                               response_model=response_model, signals=options)
        try:
            result = yield from call_structured(call_llm, payload, response_model, node_config.get("retries", 3),
                                                node_config, after_call=usage_recorder(backends, execution_id),
                                                request=request)
            output = extract_output(result, output_field)
            ctx = store_output(backends, execution_id, ctx, output_field, output)
            if history_key is not None:
                history += [{"role": "user", "content": rendered}, {"role": "assistant", "content": str(output)}]
                backends.conversation_history.save_conversation_history(history_key, history)
        except PASSTHROUGH_ERRORS:
            raise
        except Exception as exc:
            register_event(backends, execution_id, "node_error", {"node_type": "llm", "error": str(exc)})
            failure_signal = node_config.get("llm_failure_signal")
            if not failure_signal:
                if isinstance(exc, ProviderError):  # keeps status, provider and request id for the caller
                    raise
                raise RuntimeError(str(exc)) from exc
            broadcast_signals_caller(execution_id, [failure_signal])
            return
        complete(broadcast_signals_caller, execution_id, node_config, mode, ctx,
                 extract_selected_signals(result), backends)

    return llm
