"""LLM usage a tree carries from one call to the next in this process (SPEC §16.3).

The runner reads it when it starts a tree and stores it when the tree drains;
charging a call against the budget (``soe.engine.budgets``) asks the draining
runner instead. Kept apart from the charging so the runner imports this
module without a cycle.
"""

from __future__ import annotations

from soe.engine.limits import Limits
from soe.lib.recent import RecentMap

__all__ = ["remember_usage", "usage_for_tree"]

# the most recent budgeted trees of this process (a durable store keeps usage in its tree state)
_USAGE: RecentMap[str, tuple[int, int]] = RecentMap(100_000)


def usage_for_tree(main_execution_id: str) -> tuple[int, int]:
    """``(llm_calls, tokens)`` the tree used in earlier calls of this process."""
    return _USAGE.get(main_execution_id) or (0, 0)


def remember_usage(main_execution_id: str, limits: Limits, llm_calls: int, tokens: int) -> None:
    """Keep a budgeted tree's usage for its next call (unbudgeted trees keep nothing)."""
    if limits.max_llm_calls is None and limits.max_tokens is None:
        return
    _USAGE.put(main_execution_id, (llm_calls, tokens))
