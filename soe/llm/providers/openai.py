"""OpenAI Chat Completions adapter (SPEC §16.1), spoken over plain HTTP.

Any server that implements ``/chat/completions`` (vLLM, Ollama, LM Studio,
Azure-style gateways) works through ``base_url``. Structured output uses
``response_format: json_schema`` with ``strict: false``, because strict mode
rejects the engine's schemas (``Any`` fields, defaults).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from soe._errors import ProviderError
from soe.llm.providers._http import HttpOptions, post_json
from soe.llm.providers._structured import structured_request
from soe.llm.usage import report_usage

__all__ = ["DEFAULT_BASE_URL", "openai"]

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


def openai(model: str, base_url: str | None = None, api_key: str | None = None, *,
           max_retries: int = 3, timeout: float = 60.0, backoff_base: float = 0.5,
           **options: Any) -> Callable[..., BaseModel | str]:
    """A messages-form ``call_llm`` backed by OpenAI's (or a compatible) Chat Completions API.

    ``options`` (e.g. ``temperature``, ``max_tokens``, ``seed``) are sent in the
    request body as given. ``api_key`` defaults to ``$OPENAI_API_KEY``, read at
    call time; ``base_url`` defaults to ``$OPENAI_BASE_URL`` or OpenAI's.
    """
    root = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    url = f"{root}/chat/completions"
    http = HttpOptions(max_retries=max_retries, timeout=timeout, backoff_base=backoff_base)

    def call_llm(messages: list[dict[str, Any]],
                 response_model: type[BaseModel] | None = None) -> BaseModel | str:
        key = _api_key(api_key, root)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        request = structured_request(response_model) if response_model is not None else None
        payload: dict[str, Any] = {"model": model, "messages": list(messages), **options}
        if request is not None:
            payload["response_format"] = request.response_format()
        body = post_json(url, payload, headers, provider=PROVIDER, options=http)
        _report(body)
        text = message_text(body)
        return request.parse_text(text) if request is not None else text

    call_llm.__name__ = call_llm.__qualname__ = f"openai_{model}"
    return call_llm
