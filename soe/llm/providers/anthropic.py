"""Anthropic Messages API adapter (SPEC §16.1), spoken over plain HTTP.

Structured output is requested the way Anthropic recommends: a single tool
``respond`` whose ``input_schema`` is the response schema, forced with
``tool_choice``; the tool call's ``input`` is the answer. System messages are
moved to the top-level ``system`` field, which the Messages API requires.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from soe._errors import ProviderError
from soe.llm.providers._compose import Composed, compose, decide, merged_options, read_text
from soe.llm.providers._http import HttpOptions, post_json
from soe.llm.providers._structured import StructuredRequest, structured_request
from soe.llm.request import REQUEST_PROTOCOL, LlmRequest
from soe.llm.usage import report_usage

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_BASE_URL", "TOOL_NAME", "anthropic"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
TOOL_NAME = "respond"
PROVIDER = "anthropic"


def _split_system(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """System prompts go to the top-level ``system`` field; the rest stay as messages."""
    system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    return ("\n\n".join(system) if system else None), rest


def _tool_fields(request: StructuredRequest) -> dict[str, Any]:
    """The ``tools``/``tool_choice`` body fields that force a schema-shaped answer."""
    tool = {"name": TOOL_NAME, "description": request.description, "input_schema": request.schema}
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": TOOL_NAME}}


def _report(body: Mapping[str, Any]) -> None:
    """Report usage; cached input tokens are input tokens too, so they count as prompt."""
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return
    prompt = sum(int(usage.get(key) or 0) for key in (
        "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    report_usage(prompt, int(usage.get("output_tokens") or 0))


def _blocks(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = body.get("content")
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, Mapping)]


def _text(blocks: list[Mapping[str, Any]]) -> str:
    """All text blocks joined: the answer when no tool was requested (or none was called)."""
    return "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _answer(body: Mapping[str, Any], request: StructuredRequest | None) -> BaseModel | str:
    """The ``respond`` tool's input validated, else the text the model wrote instead."""
    blocks = _blocks(body)
    if request is None:
        return _text(blocks)
    for block in blocks:
        if block.get("type") == "tool_use" and block.get("name") == TOOL_NAME:
            return request.parse_object(block.get("input"))
    return request.parse_text(_text(blocks))


def _request_body(request: LlmRequest, composed: Composed, model: str, max_tokens: int,
                  options: Mapping[str, Any]) -> dict[str, Any]:
    """The Messages API body of a structured request: the answer as a forced ``respond`` tool, or the agent's tools."""
    body = merged_options(model, {"max_tokens": max_tokens, **options}, request)
    system, body["messages"] = _split_system(composed.messages)
    if system is not None:
        body["system"] = system
    if composed.schema is not None:
        tool = {"name": TOOL_NAME, "description": "Give your answer as this tool's input.",
                "input_schema": composed.schema}
        body.update(tools=[tool], tool_choice={"type": "tool", "name": TOOL_NAME})
    elif composed.tools:
        body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                         for t in composed.tools]
    return body


def _request_answer(body: Mapping[str, Any], composed: Composed) -> Any:
    """A structured request's answer: the first ``tool_use`` (a tool call or ``respond``), else the text."""
    blocks = _blocks(body)
    use = next((b for b in blocks if b.get("type") == "tool_use"), None)
    if composed.schema is None:
        return decide(use.get("name"), use.get("input")) if use else decide(None)
    if use is not None and use.get("name") == TOOL_NAME:
        return composed.decode(use.get("input"))
    return read_text(composed, _text(blocks))


def _api_key(explicit: str | None, base_url: str) -> str | None:
    """The key to send; missing is an error only against Anthropic itself."""
    key = explicit or os.environ.get("ANTHROPIC_API_KEY")
    if not key and base_url == DEFAULT_BASE_URL:
        raise ProviderError("Anthropic API key missing: pass api_key=... or set ANTHROPIC_API_KEY",
                            provider=PROVIDER, status=None, retryable=False)
    return key


def anthropic(model: str, base_url: str | None = None, api_key: str | None = None,
              max_tokens: int = 1024, *, tool_calling: str = "native", max_retries: int = 3,
              timeout: float = 60.0, backoff_base: float = 0.5,
              **options: Any) -> Callable[..., BaseModel | str]:
    """A ``call_llm`` backed by Anthropic's Messages API; takes §7.1's messages form and the structured request.

    Agents' tool choices use Anthropic's native ``tool_use`` (``tool_calling``
    exists so one set of CLI options fits every adapter; only ``"native"`` is
    accepted). A missing key against Anthropic itself raises ``ValueError``
    here, before any run.

    ``max_tokens`` is required by the API, hence the default. ``options`` (e.g.
    ``temperature``, ``top_p``) are sent in the request body as given.
    ``api_key`` defaults to ``$ANTHROPIC_API_KEY``, read at call time.
    """
    if tool_calling != "native":
        raise ValueError(f"The anthropic adapter always uses native tool_use, not tool_calling={tool_calling!r}")
    root = (base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not (api_key or os.environ.get("ANTHROPIC_API_KEY")) and root == DEFAULT_BASE_URL:
        raise ValueError("Anthropic API key missing: pass api_key=... or set ANTHROPIC_API_KEY")
    url = f"{root}/v1/messages"
    http = HttpOptions(max_retries=max_retries, timeout=timeout, backoff_base=backoff_base)

    def post(payload: dict[str, Any]) -> dict[str, Any]:
        key = _api_key(api_key, root)
        headers = {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": key} if key else {})}
        body = post_json(url, payload, headers, provider=PROVIDER, options=http)
        _report(body)
        return body

    def call_llm(messages: list[dict[str, Any]] | LlmRequest,
                 response_model: type[BaseModel] | None = None) -> Any:
        if isinstance(messages, LlmRequest):
            composed = compose(messages, native_tools=True)
            return _request_answer(post(_request_body(messages, composed, model, max_tokens, options)),
                                   composed)
        request = structured_request(response_model) if response_model is not None else None
        system, chat = _split_system(list(messages))
        payload: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": chat}
        if system is not None:
            payload["system"] = system
        if request is not None:
            payload.update(_tool_fields(request))
        payload.update(options)
        return _answer(post(payload), request)

    call_llm.__name__ = call_llm.__qualname__ = f"anthropic_{model}"
    call_llm.soe_request_protocol = REQUEST_PROTOCOL  # type: ignore[attr-defined]
    return call_llm
