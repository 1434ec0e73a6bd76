"""LLM-facing helpers: usage reporting, the provider error and the provider adapters (SPEC §16).

The adapters (``openai``, ``anthropic``, ``litellm``, ``echo``, ``llm_from_spec``)
are loaded on first access, so importing the engine, which imports this
package, does not load the HTTP machinery. The call contract the nodes use
lives in :mod:`soe.llm.contract`; the structured request that adapters may
declare (``LlmRequest``, ``StructuredLLM``, ``structured_llm``) in :mod:`soe.llm.request`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from soe._errors import ProviderError
from soe.llm.request import LlmRequest, StructuredLLM, structured_llm
from soe.llm.usage import report_usage

if TYPE_CHECKING:
    from soe.llm.providers import anthropic, echo, litellm, llm_from_spec, openai

__all__ = [
    "LlmRequest",
    "ProviderError",
    "StructuredLLM",
    "anthropic",
    "echo",
    "litellm",
    "llm_from_spec",
    "openai",
    "report_usage",
    "structured_llm",
]

_ADAPTERS = frozenset({"anthropic", "echo", "litellm", "llm_from_spec", "openai"})


def __getattr__(name: str) -> Any:
    """Load the adapters lazily (PEP 562) and cache them as module attributes."""
    if name in _ADAPTERS:
        value = getattr(importlib.import_module("soe.llm.providers"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _ADAPTERS)
