"""Per-tree limits: the orchestrate argument, else config ``limits``, else the default.

Limits are not part of the registry (children and inheriting executions do not
copy them); the engine keeps the effective limits of each tree so that later
``broadcast_signals`` calls apply them too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from soe.lib.recent import RecentMap
from soe.lib.template_limits import DEFAULT_TEMPLATE_LIMITS, TemplateLimits

__all__ = ["DEFAULT_LIMITS", "Limits", "limits_for_tree", "remember_tree_limits", "resolve_limits"]


@dataclass(frozen=True)
class Limits:
    """The budgets of one execution tree (``None`` means unlimited)."""

    max_steps: int = 100_000
    max_concurrency: int = 1
    max_llm_calls: int | None = None
    max_tokens: int | None = None
    max_template_output: int = DEFAULT_TEMPLATE_LIMITS.max_template_output
    max_template_ms: int = DEFAULT_TEMPLATE_LIMITS.max_template_ms
    max_call_seconds: int | None = None
    max_run_seconds: int | None = None
    max_children: int | None = None
    confine_builtin_tools: bool = False

    @property
    def templates(self) -> TemplateLimits:
        """The part of the limits that bounds each template render."""
        return TemplateLimits(self.max_template_output, self.max_template_ms)


DEFAULT_LIMITS = Limits()

# the most recent trees of this process (a durable store keeps every tree's limits in its tree state)
_TREE_LIMITS: RecentMap[str, Limits] = RecentMap(100_000)


def resolve_limits(config_limits: dict[str, Any], **arguments: int | None) -> Limits:
    """Apply the precedence rule: explicit argument, then config, then default."""
    merged = {key: value for key, value in config_limits.items() if value is not None}
    merged.update({key: value for key, value in arguments.items() if value is not None})
    return replace(DEFAULT_LIMITS, **merged) if merged else DEFAULT_LIMITS  # replace() is costly per call


def remember_tree_limits(main_execution_id: str, limits: Limits) -> None:
    """Keep a tree's limits for later calls; the default costs nothing to keep."""
    if limits == DEFAULT_LIMITS:
        return
    _TREE_LIMITS.put(main_execution_id, limits)


def limits_for_tree(main_execution_id: str) -> Limits:
    """The limits recorded for a tree, or the defaults."""
    return _TREE_LIMITS.get(main_execution_id) or DEFAULT_LIMITS
