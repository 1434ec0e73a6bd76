"""Storing a node's output, and passing it up to parents that asked for it (SPEC §3.4, §4.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soe.engine.store import append_field
from soe.lib.context_fields import set_field
from soe.lib.history import HistoryPrefix
from soe.lib.values import storable
from soe.types import Backends

__all__ = ["save_output_to_context", "store_output"]


def save_output_to_context(backends: Backends, execution_id: str, ctx: Mapping[str, Any],
                           output_field: str | None, value: Any) -> None:
    """Append ``value`` to ``output_field`` once, then climb the parents that list the field.

    ``ctx`` is the context the node read (it carries ``__parent__``). A falsy
    field or a ``None`` value stores nothing (upstream behaviour, kept).
    """
    if not output_field or value is None:
        return
    append_field(backends, execution_id, output_field, value)
    parent = ctx.get("__parent__")
    while isinstance(parent, Mapping) and output_field in (parent.get("context_updates_to_parent") or []):
        parent_id = parent.get("parent_execution_id")
        if not parent_id:
            return
        append_field(backends, parent_id, output_field, value)
        parent = backends.context.get_context(parent_id).get("__parent__")


def store_output(backends: Backends, execution_id: str, ctx: dict[str, Any], output_field: str | None,
                 value: Any, *, appended: bool = True) -> dict[str, Any]:
    """Store a node's output; returns the in-process context its conditions evaluate against.

    That context is detached from ``ctx`` before the write, so a backend whose
    ``get_context`` hands out its stored object can neither show the output twice
    (Q2) nor leak it into a tool's pre-tool view (Q18). With ``appended`` the
    output is added to it (LLM and agent nodes); without, it is the pre-write view.
    """
    if output_field and value is not None:
        value = storable(value, what=f"the value for '{output_field}'")
    view = dict(ctx)
    if output_field:
        history = view.get(output_field)
        if isinstance(history, HistoryPrefix):  # a snapshot: the write cannot show through
            if appended:
                view[output_field] = history.plus(value)
        else:
            if isinstance(history, list):
                view[output_field] = list(history)
            if appended:
                set_field(view, output_field, value)
    save_output_to_context(backends, execution_id, ctx, output_field, value)
    return view
