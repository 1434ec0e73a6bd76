"""``provider:model`` strings to ``call_llm`` callables, for CLIs and config files.

One short string names a model everywhere a command line or environment
variable has to choose one (``openai:gpt-4o-mini``, ``echo``), without the
caller importing a specific adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["SPEC_FORMS", "llm_from_spec"]

SPEC_FORMS = ("openai:MODEL", "anthropic:MODEL", "litellm:MODEL", "echo")


def _invalid(spec: object, reason: str) -> ValueError:
    forms = ", ".join(f"'{form}'" for form in SPEC_FORMS)
    return ValueError(f"Invalid LLM spec {spec!r}: {reason}. Expected one of: {forms}")


def _adapter(provider: str) -> Callable[..., Callable[..., Any]] | None:
    """The adapter factory for ``provider``, imported only when chosen (litellm is optional)."""
    if provider == "openai":
        from soe.llm.providers.openai import openai
        return openai
    if provider == "anthropic":
        from soe.llm.providers.anthropic import anthropic
        return anthropic
    if provider == "litellm":
        from soe.llm.providers.litellm import litellm
        return litellm
    return None


def llm_from_spec(spec: str, **options: Any) -> Callable[..., Any]:
    """Build the ``call_llm`` a spec names; ``options`` go to the adapter factory.

    The provider part is case-insensitive and the model is everything after the
    first ``:`` (so ``litellm:ollama/llama3:8b`` keeps its tag). Raises
    ``ValueError`` naming the accepted forms when the spec is malformed.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _invalid(spec, "it is empty")
    provider, sep, model = spec.strip().partition(":")
    provider, model = provider.strip().lower(), model.strip()
    if provider == "echo":
        if sep:
            raise _invalid(spec, "'echo' takes no model")
        if options:
            raise ValueError(f"'echo' takes no options (got {', '.join(sorted(options))})")
        from soe.llm.providers.echo import echo
        return echo(**options)
    factory = _adapter(provider)
    if factory is None:
        raise _invalid(spec, f"unknown provider {provider!r}")
    if not model:
        raise _invalid(spec, "the model name is missing")
    return factory(model, **options)
