"""Provider adapters: factories returning a messages-form ``call_llm`` (SPEC §16.1).

Every adapter requests structured output with ``strict: false``, returns the
validated model instance or the raw text (never raising for bad output, so the
engine's retries apply), raises :class:`~soe.llm.ProviderError` only for
transport/HTTP failures after its own retries, and reports token usage through
:func:`~soe.llm.report_usage`.

The factories shadow their submodules of the same name on this package
(``soe.llm.providers.openai`` is the function); reach a module itself through
``sys.modules`` or ``importlib.import_module`` if ever needed.
"""

from __future__ import annotations

from soe.llm.providers.anthropic import anthropic
from soe.llm.providers.echo import echo
from soe.llm.providers.litellm import litellm
from soe.llm.providers.openai import openai
from soe.llm.providers.spec import llm_from_spec

__all__ = ["anthropic", "echo", "litellm", "llm_from_spec", "openai"]
