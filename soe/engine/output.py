"""Storing a node's output, and passing it up to parents that asked for it (SPEC §3.4, §4.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soe.engine.store import append_field

__all__ = ["save_output_to_context"]


def save_output_to_context(backends: Any, execution_id: str, ctx: Mapping[str, Any],
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
