"""Prompt rendering and the prompt's view of the context (SPEC §6.5)."""

from __future__ import annotations

import json
from typing import Any

from soe.lib.context_fields import get_field, unwrapped_view
from soe.lib.history import HistoryPrefix
from soe.lib.templating import has_template_syntax, referenced_fields, render_template

__all__ = ["context_json", "get_context_for_prompt", "prompt_text", "render_prompt"]

_SCALARS = frozenset({str, int, float, bool, type(None)})


def get_context_for_prompt(full_context: dict[str, Any], template: str) -> tuple[dict[str, Any], list[str]]:
    """The fields ``template`` reads that exist in ``full_context``, and warnings for the rest.

    Fields come from the template's AST, so ``{% %}`` blocks and every dotted
    reference count (upstream's regex missed them).
    """
    if not template or not has_template_syntax(template):
        return {}, []
    fields: dict[str, Any] = {}
    warnings: list[str] = []
    for name in referenced_fields(template):
        if name not in full_context:
            warnings.append(f"Context field '{name}' referenced in prompt but not found in context")
            continue
        value = get_field(full_context, name)
        fields[name] = value
        if value is None:
            warnings.append(f"Context field '{name}' is None")
        elif value == "":
            warnings.append(f"Context field '{name}' is empty string")
    return fields, warnings


def context_json(fields: dict[str, Any]) -> str:
    """The prompt's context string: ``fields`` as indented JSON (SPEC §7.2).

    Nodes read a context snapshot, where ``__operational__.signals`` is a
    prefix view of the stored list; it is written out as the list it shows.
    The text is ``json.dumps(fields, indent=2)``'s: with an indent the standard
    library encodes in pure Python, building its encoder's closures (a
    reference cycle) per call, so plain dicts and lists are laid out here and
    only scalars, and any other value, go through ``json``.
    """
    return _indented(fields, "\n")


def _indented(value: Any, newline: str) -> str:
    """``value`` as ``json.dumps(value, indent=2)`` writes it where a line starts with ``newline``."""
    cls = type(value)
    if cls in _SCALARS:
        return json.dumps(value)
    if cls is HistoryPrefix or cls is list or cls is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join(_indented(item, inner) for item in value) + newline + "]"
    if cls is dict and all(type(key) is str for key in value):
        if not value:
            return "{}"
        inner = newline + "  "
        return ("{" + inner + ("," + inner).join(json.dumps(key) + ": " + _indented(item, inner)
                                                for key, item in value.items()) + newline + "}")
    # anything else: the standard encoder, its lines moved to this depth
    return json.dumps(value, indent=2, default=_snapshot_list).replace("\n", newline)


def _snapshot_list(value: Any) -> list[Any]:
    if isinstance(value, HistoryPrefix):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def render_prompt(template: str, ctx: dict[str, Any], *, node_name: str = "unknown",
                  field: str = "prompt") -> tuple[str, list[str]]:
    """Render ``template`` against the stored-form context ``ctx``; returns text and warnings.

    Raises:
        TemplateSecurityError: the template reached for something unsafe.
        TemplateRenderError: any other rendering failure; the template is never passed on raw.
    """
    if not template or not has_template_syntax(template):
        return template, []
    try:
        _, warnings = get_context_for_prompt(ctx, template)
    except Exception:
        warnings = []  # an unparsable template fails loudly in the render below
    return prompt_text(template, ctx, node_name=node_name, field=field), warnings


def prompt_text(template: str, ctx: dict[str, Any], *, node_name: str = "unknown", field: str = "prompt") -> str:
    """``render_prompt``'s text alone, for a node that already has the prompt's fields and warnings.

    Raises:
        TemplateSecurityError: the template reached for something unsafe.
        TemplateRenderError: any other rendering failure.
    """
    if not template or not has_template_syntax(template):
        return template
    return render_template(template, {"context": unwrapped_view(ctx)}, full_context=ctx,
                           node_name=node_name, field=field)
