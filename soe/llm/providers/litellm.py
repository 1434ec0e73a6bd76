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
from typing import Any

from pydantic import BaseModel

from soe._errors import ProviderError
from soe.llm.providers._http import redact
from soe.llm.providers._structured import structured_request
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


def litellm(model: str, **options: Any) -> Callable[..., BaseModel | str]:
    """A messages-form ``call_llm`` calling ``litellm.completion(model=model, ...)``.

    ``options`` (e.g. ``temperature``, ``api_base``, ``num_retries``) are passed
    to ``litellm.completion`` as given. Raises ``ImportError`` with an install
    hint when LiteLLM is not installed.
    """
    module = _import_litellm()

    def call_llm(messages: list[dict[str, Any]],
                 response_model: type[BaseModel] | None = None) -> BaseModel | str:
        request = structured_request(response_model) if response_model is not None else None
        kwargs: dict[str, Any] = {"model": model, "messages": list(messages), **options}
        if request is not None:
            kwargs["response_format"] = request.response_format()
        try:
            response = module.completion(**kwargs)
        except Exception as exc:
            raise _provider_error(exc, options) from None
        _report(response)
        text = _content(response)
        return request.parse_text(text) if request is not None else text

    call_llm.__name__ = call_llm.__qualname__ = f"litellm_{model}"
    return call_llm
