"""Lint of emission conditions: the ones that silently never fire, or silently always do (§6.1, Q14)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from jinja2 import TemplateSyntaxError

from soe.lib.templating import compile_template, has_template_syntax, is_jinja_condition
from soe.validation._lint_checks import Finding, Model, Site

__all__ = ["check_conditions"]


def check_conditions(model: Model) -> Iterator[Finding]:
    """SOE010/SOE011: conditions that silently never fire, or silently always do (§6.1, Q14)."""
    for wf, name, node in model.nodes():
        node_type = node.get("node_type")
        if node_type not in ("router", "llm", "agent", "tool"):
            continue
        emissions = node.get("event_emissions")
        for index, item in enumerate(emissions if isinstance(emissions, list) else []):
            condition = item.get("condition") if isinstance(item, Mapping) else None
            if not isinstance(condition, str) or not has_template_syntax(condition):
                continue
            site = (wf, name, "event_emissions", index, "condition")
            if not is_jinja_condition(condition):
                yield model.finding("SOE011", "warning", site,
                                    "condition has template syntax but is not Jinja (needs "
                                    "'{{ ... }}' on one line), so it is read as plain text",
                                    "put the whole expression in one '{{ ... }}' on a single line")
            elif node_type != "router":  # router conditions are compiled by validation
                yield from _compile_condition(model, site, condition)


def _compile_condition(model: Model, site: Site, condition: str) -> Iterator[Finding]:
    try:
        compile_template(condition)
    except TemplateSyntaxError as exc:
        yield model.finding("SOE010", "error", site,
                            f"condition does not compile: {exc.message}; the emission never fires",
                            "fix the Jinja syntax (LLM, agent and tool conditions are not "
                            "checked by validation)")
