"""LLM node caller (SPEC §5.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from soe._errors import PASSTHROUGH_ERRORS, ProviderError
from soe.engine.output import store_output
from soe.engine.telemetry import register_event
from soe.lib.effects import Steps
from soe.lib.jinja_render import context_json, get_context_for_prompt, prompt_text
from soe.llm.contract import (
    LlmRequest,
    build_response_model,
    call_structured,
    extract_output,
    extract_selected_signals,
    signal_options,
)
from soe.nodes._caller import NodeCallerFn, node_caller
from soe.nodes._emissions import EmissionMode, emission_mode
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
from soe.types import Backends, BroadcastSignalsCaller, CallLlm, EventTypes
from soe.validation.nodes.rules import validate_once

__all__ = ["LlmCall", "LlmNode", "create_llm_node_caller"]


def _history_text(history: list[dict[str, Any]]) -> str:
    return "\n".join(f"[{entry.get('role')}]: {entry.get('content')}" for entry in history)


@dataclass(frozen=True)
class LlmCall:
    """Everything one LLM node run prepared before its request: what the call and its storing need."""

    execution_id: str
    node_config: dict[str, Any]
    ctx: dict[str, Any]
    history_key: str | None
    history: list[dict[str, Any]]
    rendered: str
    payload: dict[str, Any]
    response_model: type[BaseModel]
    mode: EmissionMode
    request: LlmRequest | None


def create_llm_node_caller(backends: Backends, call_llm: CallLlm,
                           broadcast_signals_caller: BroadcastSignalsCaller) -> NodeCallerFn:
    """Build the caller that makes one structured LLM call and stores its output."""
    return node_caller(backends)(LlmNode(backends, call_llm, broadcast_signals_caller).llm)


class LlmNode:
    """The LLM node's steps as methods: prepare, ask, store, fail, each testable on its own."""

    def __init__(self, backends: Backends, call_llm: CallLlm, broadcast: BroadcastSignalsCaller) -> None:
        self.backends = backends
        self.call_llm = call_llm
        self.broadcast = broadcast

    def llm(self, execution_id: str, node_config: dict[str, Any]) -> Steps[None]:
        """SPEC §5.2: one structured request; a failure is signalled when the node names a signal."""
        ctx = validate_llm_node_runtime(execution_id, self.backends)
        validate_once(validate_node_config, node_config)
        call = self.prepare(execution_id, node_config, ctx)
        try:
            result = yield from self.ask(call)
            ctx = self.store(call, result)
        except PASSTHROUGH_ERRORS:
            raise
        except Exception as exc:
            self.fail(execution_id, node_config, exc)
            return
        complete(self.broadcast, execution_id, node_config, call.mode, ctx,
                 extract_selected_signals(result), self.backends)

    def prepare(self, execution_id: str, node_config: dict[str, Any], ctx: dict[str, Any]) -> LlmCall:
        """History, prompt, response model and request, in SPEC order (its events come in that order)."""
        main_id = ctx["__operational__"]["main_execution_id"]
        identity = node_config.get("identity")
        output_field = node_config.get("output_field")
        history_key, history = open_history(self.backends, ctx, identity)
        fields, warnings = get_context_for_prompt(ctx, node_config["prompt"])
        root_model = output_root_model(self.backends, main_id, output_field)
        mode = emission_mode(node_config.get("event_emissions"))
        options = signal_options(node_config.get("event_emissions")) if mode == "select" else []
        register_llm_call(self.backends, execution_id, {"identity": identity or None})
        rendered = prompt_text(node_config["prompt"], ctx, node_name=node_config.get("name", "unknown"))
        if warnings:
            register_event(self.backends, execution_id, EventTypes.CONTEXT_WARNING, {"warnings": warnings})
        response_model = build_response_model(output_field, root_model, options)
        payload = {"prompt": rendered, "context": context_json(fields) if fields else "",
                   "conversation_history": _history_text(history)}
        request = node_request(self.call_llm, self.backends, main_id, node_config, stage="llm", prompt=rendered,
                               context=payload["context"], history=history,
                               response_model=response_model, signals=options)
        return LlmCall(execution_id, node_config, ctx, history_key, history, rendered, payload,
                       response_model, mode, request)

    def ask(self, call: LlmCall) -> Steps[BaseModel]:
        """The request itself, retried ``retries`` times on unparseable answers."""
        return (yield from call_structured(self.call_llm, call.payload, call.response_model,
                                           call.node_config.get("retries", 3), call.node_config,
                                           after_call=usage_recorder(self.backends, call.execution_id),
                                           request=call.request))

    def store(self, call: LlmCall, result: BaseModel) -> dict[str, Any]:
        """Store the output and extend the conversation; returns the context conditions see."""
        output_field = call.node_config.get("output_field")
        output = extract_output(result, output_field)
        ctx = store_output(self.backends, call.execution_id, call.ctx, output_field, output)
        history_backend = self.backends.conversation_history
        if call.history_key is not None and history_backend is not None:
            history = [*call.history, {"role": "user", "content": call.rendered},
                       {"role": "assistant", "content": str(output)}]
            history_backend.save_conversation_history(call.history_key, history)
        return ctx

    def fail(self, execution_id: str, node_config: dict[str, Any], exc: Exception) -> None:
        """A failed request: the failure signal when the node has one, else an error for the caller."""
        register_event(self.backends, execution_id, EventTypes.NODE_ERROR, {"node_type": "llm", "error": str(exc)})
        failure_signal = node_config.get("llm_failure_signal")
        if failure_signal:
            self.broadcast(execution_id, [failure_signal])
            return
        if isinstance(exc, ProviderError):  # keeps status, provider and request id for the caller
            raise exc
        raise RuntimeError(str(exc)) from exc
