"""LiteLLM adapter (SPEC §16.1): any of LiteLLM's providers behind one ``model`` string.

LiteLLM is an optional extra (``pip install litellm``, or the ``litellm`` extra); it is imported
only when this adapter is created, so the core never depends on it. Its
OpenAI-shaped responses are read with the same structured-output and usage
rules as :func:`soe.llm.openai`, and its exceptions become ``ProviderError``.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, cast

from pydantic import BaseModel

from soe._errors import ProviderError
from soe.llm.providers._compose import compose, read_text
from soe.llm.providers._http import redact
from soe.llm.providers._structured import structured_request
from soe.llm.providers.openai import ToolCalling, chat_request_body, message_text, tool_decision
from soe.llm.request import REQUEST_PROTOCOL, LlmRequest
from soe.llm.usage import report_usage

__all__ = ["litellm"]

PROVIDER = "litellm"
_SECRET_NAME = re.compile(r"(api_?key|token|secret|password)$", re.IGNORECASE)
INSTALL_HINT = "The litellm adapter needs the litellm package: pip install litellm"


def _import_litellm() -> ModuleType:
    """Import LiteLLM on demand, with an install hint instead of a bare ModuleNotFoundError."""
    try:
        return importlib.import_module("litellm")
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc


def _get(obj: Any, key: str) -> Any:
    """Read ``key`` from LiteLLM's objects, which are both attribute- and dict-like."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _report(response: Any) -> None:
    usage = _get(response, "usage")
    if usage is not None:
        report_usage(int(_get(usage, "prompt_tokens") or 0),
                     int(_get(usage, "completion_tokens") or 0))


def _content(response: Any) -> str:
    """``choices[0].message.content``, or ``""`` when the response has none."""
    choices = _get(response, "choices") or []
    if not choices:
        return ""
    content = _get(_get(choices[0], "message"), "content")
    return content if isinstance(content, str) else ""


def _provider_error(exc: Exception, options: Mapping[str, Any]) -> ProviderError:
    """Map a LiteLLM exception: timeouts, rate limits, 5xx and dropped connections are transient.

    The message is redacted of the keys LiteLLM may have sent: ``api_key``-like
    options and the ``*_API_KEY``/``*_TOKEN`` variables of the environment.
    """
    status = _get(exc, "status_code")
    if isinstance(status, int):
        retryable = status in (408, 429) or status >= 500
    else:
        status, retryable = None, isinstance(exc, (ConnectionError, TimeoutError))
    secrets = [str(v) for k, v in options.items() if _SECRET_NAME.search(k) and v]
    secrets += [v for k, v in os.environ.items() if _SECRET_NAME.search(k)]
    return ProviderError(redact(f"litellm error: {exc}", secrets), provider=PROVIDER, status=status,
                         retryable=retryable)


def _plain(response: Any) -> Mapping[str, Any]:
    """LiteLLM's response as the OpenAI-shaped mapping it mirrors."""
    if isinstance(response, Mapping):
        return response
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        return cast("Mapping[str, Any]", dump())
    return {"choices": [{"message": {"content": _content(response)}}]}


def litellm(model: str, *, tool_calling: ToolCalling = "native",
            **options: Any) -> Callable[..., BaseModel | str]:
    """A ``call_llm`` calling ``litellm.completion(model=model, ...)``; takes the structured request too.

    ``options`` (e.g. ``temperature``, ``api_base``, ``num_retries``) are passed
    to ``litellm.completion`` as given; a node's own options override them.
    ``tool_calling`` is as for :func:`soe.llm.openai`. Raises ``ImportError``
    with an install hint when LiteLLM is not installed.
    """
    module = _import_litellm()

    def complete(kwargs: dict[str, Any]) -> Any:
        try:
            response = module.completion(**kwargs)
        except Exception as exc:
            raise _provider_error(exc, options) from None
        _report(response)
        return response

    def call_llm(messages: list[dict[str, Any]] | LlmRequest,
                 response_model: type[BaseModel] | None = None) -> Any:
        if isinstance(messages, LlmRequest):
            composed = compose(messages, tool_calling == "native")
            body = _plain(complete(chat_request_body(messages, composed, model, options)))
            return tool_decision(body) if composed.schema is None else read_text(composed, message_text(body))
        request = structured_request(response_model) if response_model is not None else None
        kwargs: dict[str, Any] = {"model": model, "messages": list(messages), **options}
        if request is not None:
            kwargs["response_format"] = request.response_format()
        text = _content(complete(kwargs))
        return request.parse_text(text) if request is not None else text

    call_llm.__name__ = call_llm.__qualname__ = f"litellm_{model}"
    call_llm.soe_request_protocol = REQUEST_PROTOCOL  # type: ignore[attr-defined]
    return call_llm
