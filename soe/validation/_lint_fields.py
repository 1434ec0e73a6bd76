"""Lint check SOE009: templates reading context fields that nothing writes.

A prompt, tool parameter or condition reading ``context.x`` when no node
writes ``x`` renders an empty value (or the condition quietly fails): the run
goes on with a hole in it. Fields are scoped per workflow like contexts are:
a child sees only what its starter passes in, a parent gains what children
send back through ``context_updates_to_parent`` (§4.4, §5.5).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from soe.lib.templating import ENVIRONMENT, has_template_syntax, is_jinja_condition
from soe.validation._lint_checks import Finding, Model, Site, suggest
from soe.validation.nodes.rules import template_strings
from soe.validation.yaml_nodes import parse_path

__all__ = ["check_context_fields"]

_CONTEXT_TOOLS = frozenset({"soe_update_context", "soe_copy_context"})
_FIELD_HINT = ("write it with output_field on a node, pass it in initial_context or a child's "
               "input_fields, or guard it with 'is defined' / '| default'")


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _context_field(expr: Any) -> str | None:
    """The field an expression rooted at ``context.<f>`` / ``context['f']`` reads, if any."""
    while isinstance(expr, (nodes.Getattr, nodes.Getitem)):
        inner = expr.node
        if isinstance(inner, nodes.Name) and inner.name == "context":
            if isinstance(expr, nodes.Getattr):
                return expr.attr
            arg = expr.arg
            return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None
        expr = inner
    return None


def _guarded(tree: nodes.Template) -> set[str]:
    """Fields the template checks for itself: ``is (not) defined``, ``| default``, ``'f' in context``."""
    found = {_context_field(t.node) for t in tree.find_all(nodes.Test)
             if t.name in ("defined", "undefined")}
    found |= {_context_field(f.node) for f in tree.find_all(nodes.Filter)
              if f.name in ("default", "d") and f.node is not None}
    for compare in tree.find_all(nodes.Compare):
        const = compare.expr
        if isinstance(const, nodes.Const) and isinstance(const.value, str) and any(
                op.op in ("in", "notin") and isinstance(op.expr, nodes.Name)
                and op.expr.name == "context" for op in compare.ops):
            found.add(const.value)
    return {f for f in found if f}


def _reads(source: str) -> list[tuple[str, bool]]:
    """``(field, guarded)`` for each context field a template reads; nothing if it cannot parse."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError:
        return []
    guarded = _guarded(tree)
    fields = dict.fromkeys(f for f in map(_context_field, tree.find_all((nodes.Getattr, nodes.Getitem)))
                           if f and not f.startswith("__"))
    return [(f, f in guarded) for f in fields]


def _templates(wf: Any, name: Any, node: Mapping[str, Any]) -> Iterator[tuple[Site, str, str]]:
    """``(site, what, source)`` for every template a node renders: prompt, parameters, conditions."""
    node_type = node.get("node_type")
    prompt = node.get("prompt")
    if node_type in ("llm", "agent") and isinstance(prompt, str) and has_template_syntax(prompt):
        yield (wf, name, "prompt"), "prompt", prompt
    if node_type == "tool":
        for path, source in template_strings(node.get("parameters"), "parameters"):
            yield (wf, name, *parse_path(path)), path, source
    if node_type in ("router", "llm", "agent", "tool"):
        for index, item in enumerate(_list(node.get("event_emissions"))):
            condition = item.get("condition") if isinstance(item, Mapping) else None
            if isinstance(condition, str) and is_jinja_condition(condition):
                yield ((wf, name, "event_emissions", index, "condition"),
                       f"condition of '{item.get('signal_name')}'", condition)


def _provided(model: Model, wf: Any) -> set[str]:
    """Fields some node, child or start can put into ``wf``'s context."""
    fields: list[Any] = list(model.initial_fields)
    for _, _, node in model.nodes(wf):
        output = node.get("output_field")
        if isinstance(output, str):
            fields.append(output)
        fields.extend(_list(node.get("context_updates_to_parent")))
    for _, _, child in model.starters(wf):
        fields.extend(_list(child.get("input_fields")))
        fields.append(child.get("child_input_field"))
    return {f for f in fields if isinstance(f, str)}


def check_context_fields(model: Model) -> Iterator[Finding]:
    """SOE009: a template reading a field nothing writes renders it empty (or fails loudly)."""
    for wf in model.workflows:
        if model.uses_tools(wf, _CONTEXT_TOOLS):
            continue  # soe_update_context / soe_copy_context can write any field
        provided = _provided(model, wf)
        for _, name, node in model.nodes(wf):
            seen: set[str] = set()
            for site, what, source in _templates(wf, name, node):
                for field, guarded in _reads(source):
                    if field in provided or field in seen:
                        continue
                    seen.add(field)
                    yield model.finding(
                        "SOE009", "info" if guarded else "warning", site,
                        f"{what} reads context.{field}, which no node writes and no initial "
                        "context provides" + (" (guarded)" if guarded else ""),
                        _FIELD_HINT + suggest(field, provided))
