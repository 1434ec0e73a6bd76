"""LLM-call and token budgets of an execution tree (SPEC §16.3).

Usage is counted per tree by its runner; it carries over to later calls on the
same tree (kept in this process by ``soe.engine.usage``, and in the tree state
of a durable store).
"""

from __future__ import annotations

from soe._errors import BudgetExceeded
from soe.engine.trees import draining_runner

__all__ = ["charge_llm_call", "charge_tokens"]


def charge_llm_call(execution_id: str) -> None:
    """Count one structured request, refusing it once ``max_llm_calls`` were made."""
    runner = draining_runner()
    if runner is None:
        return
    limit = runner.limits.max_llm_calls
    with runner.usage_lock:
        if limit is not None and runner.llm_calls >= limit:
            raise BudgetExceeded("max_llm_calls", limit, runner.llm_calls, execution_id)
        runner.llm_calls += 1


def charge_tokens(execution_id: str, tokens: int) -> None:
    """Add reported tokens; raise once the tree's total exceeds ``max_tokens``."""
    runner = draining_runner()
    if runner is None:
        return
    limit = runner.limits.max_tokens
    with runner.usage_lock:
        runner.tokens += tokens
        if limit is not None and runner.tokens > limit:
            raise BudgetExceeded("max_tokens", limit, runner.tokens, execution_id)
