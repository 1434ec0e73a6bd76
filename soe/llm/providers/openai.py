"""OpenAI Chat Completions adapter (SPEC §16.1), spoken over plain HTTP.

Any server that implements ``/chat/completions`` (vLLM, Ollama, LM Studio,
Azure-style gateways) works through ``base_url``. Structured output uses
``response_format: json_schema`` with ``strict: false``, because strict mode
rejects the engine's schemas (``Any`` fields, defaults).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from soe._errors import ProviderError
from soe.llm.providers._compose import Composed, compose, decide, merged_options, read_text
from soe.llm.providers._http import HttpOptions, post_json
from soe.llm.providers._structured import schema_name, structured_request
from soe.llm.request import REQUEST_PROTOCOL, LlmRequest
from soe.llm.usage import report_usage

__all__ = ["DEFAULT_BASE_URL", "ToolCalling", "chat_request_body", "message_text", "openai", "tool_decision"]

ToolCalling = Literal["native", "json"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PROVIDER = "openai"


def _report(body: Mapping[str, Any]) -> None:
    """Report the tokens the completion says it spent (if it says)."""
    usage = body.get("usage")
    if isinstance(usage, Mapping):
        report_usage(int(usage.get("prompt_tokens") or 0),
                     int(usage.get("completion_tokens") or 0))


def message_text(body: Mapping[str, Any]) -> str:
    """``choices[0].message.content``; a refusal's text when there is no content.

    A missing answer becomes ``""`` rather than an error, so the engine treats
    it as an invalid attempt and retries with feedback.
    """
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return ""
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, as some compatible servers answer
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    refusal = message.get("refusal")
    return refusal if isinstance(refusal, str) else ""


def _api_key(explicit: str | None, base_url: str) -> str | None:
    """The key to send; missing is an error only against OpenAI itself (local servers need none)."""
    key = explicit or os.environ.get("OPENAI_API_KEY")
    if not key and base_url == DEFAULT_BASE_URL:
        raise ProviderError("OpenAI API key missing: pass api_key=... or set OPENAI_API_KEY",
                            provider=PROVIDER, status=None, retryable=False)
    return key


def tool_decision(body: Mapping[str, Any]) -> dict[str, Any]:
    """The router decision from ``message.tool_calls`` (the first call); no call means finish."""
    choices = body.get("choices")
    message = choices[0].get("message") if isinstance(choices, list) and choices else None
    calls = message.get("tool_calls") if isinstance(message, Mapping) else None
    if not isinstance(calls, list) or not calls or not isinstance(calls[0], Mapping):
        return decide(None)
    function = calls[0].get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = None
    return decide(function.get("name"), arguments)


def chat_request_body(request: LlmRequest, composed: Composed, model: str,
                  options: Mapping[str, Any]) -> dict[str, Any]:
    """The Chat Completions body of a structured request: node options over the adapter's.

    Shared with the LiteLLM adapter, whose ``completion`` takes the same shape.
    """
    body = merged_options(model, options, request)
    body["messages"] = composed.messages
    if composed.schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": schema_name(request.response_model), "schema": composed.schema, "strict": False}}
    elif composed.tools:
        body["tools"] = [{"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": t.parameters}} for t in composed.tools]
    return body


def openai(model: str, base_url: str | None = None, api_key: str | None = None, *,
           tool_calling: ToolCalling = "native", max_retries: int = 3, timeout: float = 60.0,
           backoff_base: float = 0.5, **options: Any) -> Callable[..., BaseModel | str]:
    """A ``call_llm`` backed by OpenAI's (or a compatible) Chat Completions API.

    It takes the messages form (§7.1) and the structured request
    (:class:`soe.llm.request.LlmRequest`). ``options`` (e.g. ``temperature``,
    ``max_tokens``, ``seed``) are sent in the request body as given; a node's
    own options override them. ``tool_calling="json"`` asks agents' tool choices
    as schema-constrained JSON, for servers without tool calling. ``api_key``
    defaults to ``$OPENAI_API_KEY``; ``base_url`` to ``$OPENAI_BASE_URL`` or
    OpenAI's. Against OpenAI itself a missing key raises ``ValueError`` here, before any run.
    """
    if tool_calling not in ("native", "json"):
        raise ValueError(f"tool_calling must be 'native' or 'json', not {tool_calling!r}")
    root = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not (api_key or os.environ.get("OPENAI_API_KEY")) and root == DEFAULT_BASE_URL:
        raise ValueError("OpenAI API key missing: pass api_key=... or set OPENAI_API_KEY")
    url = f"{root}/chat/completions"
    http = HttpOptions(max_retries=max_retries, timeout=timeout, backoff_base=backoff_base)

    def post(payload: dict[str, Any]) -> dict[str, Any]:
        key = _api_key(api_key, root)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = post_json(url, payload, headers, provider=PROVIDER, options=http)
        _report(body)
        return body

    def call_structured_request(request: LlmRequest) -> Any:
        composed = compose(request, tool_calling == "native")
        body = post(chat_request_body(request, composed, model, options))
        if composed.schema is None:
            return tool_decision(body)
        return read_text(composed, message_text(body))

    def call_llm(messages: list[dict[str, Any]] | LlmRequest,
                 response_model: type[BaseModel] | None = None) -> Any:
        if isinstance(messages, LlmRequest):
            return call_structured_request(messages)
        request = structured_request(response_model) if response_model is not None else None
        payload: dict[str, Any] = {"model": model, "messages": list(messages), **options}
        if request is not None:
            payload["response_format"] = request.response_format()
        text = message_text(post(payload))
        return request.parse_text(text) if request is not None else text

    call_llm.__name__ = call_llm.__qualname__ = f"openai_{model}"
    call_llm.soe_request_protocol = REQUEST_PROTOCOL  # type: ignore[attr-defined]
    return call_llm
