"""Which signals a node emits after its work (SPEC §6).

One evaluator serves routers, tools and LLM/agent nodes in Jinja mode; the
mode selection for LLM and agent nodes (``soe.lib.emissions``) is re-exported
beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from soe._errors import TemplateSecurityError
from soe.engine.telemetry import register_event
from soe.lib.context_fields import unwrapped_view
from soe.lib.emissions import EmissionMode, condition_of, emission_mode, is_jinja
from soe.lib.templating import render_template
from soe.types import Backends, EventTypes

__all__ = ["ConditionReport", "EmissionMode", "condition_reporter", "emission_mode", "evaluate_emissions", "passes"]

ConditionReport = Callable[[dict[str, Any]], None]

_FAILING = frozenset({"false", "0", "none", ""})


def passes(rendered: str) -> bool:
    """A rendered condition passes unless it reads false, 0, none or nothing."""
    return rendered.strip().lower() not in _FAILING


def condition_reporter(backends: Backends, execution_id: str) -> ConditionReport:
    """Registers ``condition_error`` for a condition that raised (SPEC §15).

    The emission still does not fire (§6.2); the event only makes "raised"
    distinguishable from "was false" for whoever reads the timeline.
    """
    return lambda data: register_event(backends, execution_id, EventTypes.CONDITION_ERROR, data)


def evaluate_emissions(
    emissions: Sequence[Mapping[str, Any]] | None,
    ctx: dict[str, Any],
    *,
    node_name: str,
    extra: Mapping[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    report: ConditionReport | None = None,
) -> list[Any]:
    """Signal names whose condition passes, in declaration order (duplicates kept).

    A condition that fails to render fails only its own emission (and is given
    to ``report``), except a sandbox violation, which always raises
    ``TemplateSecurityError``.
    """
    variables: dict[str, Any] | None = None
    passing = []
    for position, emission in enumerate(emissions or []):
        condition = condition_of(emission)
        if is_jinja(condition):
            if variables is None:
                variables = {"context": unwrapped_view(ctx) if view is None else view, **(extra or {})}
            if not _jinja_passes(emission, variables, ctx, node_name, position, report):
                continue
        passing.append(emission.get("signal_name"))
    return passing


def _jinja_passes(emission: Mapping[str, Any], variables: dict[str, Any], ctx: dict[str, Any],
                  node_name: str, position: int, report: ConditionReport | None) -> bool:
    try:
        rendered = render_template(condition_of(emission), variables, full_context=ctx, node_name=node_name,
                                   field=f"event_emissions[{position}].condition")
    except TemplateSecurityError:
        raise
    except Exception as exc:
        if report is not None:
            cause = exc.__cause__ or exc
            report({"node_name": node_name, "signal_name": emission.get("signal_name"),
                    "error": str(cause) or type(cause).__name__})
        return False
    return passes(rendered)
