"""LLM-facing helpers: usage reporting and the provider error (SPEC §16).

Provider adapters are added here as they land; the call contract the nodes use
lives in :mod:`soe.llm.contract`.
"""

from __future__ import annotations

from soe._errors import ProviderError
from soe.llm.usage import report_usage

__all__ = ["ProviderError", "report_usage"]
