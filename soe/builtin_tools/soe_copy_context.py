"""Built-in ``soe_copy_context``: copy field histories between executions (SPEC §10.2).

The target's copied fields are replaced by the source's whole history lists.
``__`` keys are never copied: a source ``__`` field reads as absent, and a
``__`` target is refused rather than overwriting engine state.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

import copy
from collections.abc import Callable, Mapping
from typing import Any

from soe.builtin_tools._common import within_own_tree
from soe.engine.store import execution_lock
from soe.lib.context_fields import is_internal
from soe.types import Backends

__all__ = ["create_soe_copy_context_tool"]

_NEITHER = "Must specify either 'fields' mapping or 'all_fields=True'"


def _is_user_field(name: Any) -> bool:
    return isinstance(name, str) and not is_internal(name)


def _mapping(source: dict[str, Any], fields: Any, all_fields: bool) -> dict[str, str]:
    """``{source field: target field}`` to copy; raises for a malformed ``fields``."""
    if all_fields:
        return {key: key for key in source if _is_user_field(key)}
    if not isinstance(fields, Mapping):
        raise ValueError("'fields' must be a mapping of source field names to target field names")
    for target in fields.values():
        if not _is_user_field(target):
            raise ValueError(f"Target field '{target}' is not a writable context field")
    return dict(fields)


def create_soe_copy_context_tool(backends: Backends, execution_id: str,
                                 tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``copy_context`` to ``execution_id`` (both ids default to it, Q7)."""

    def copy_context(source_execution_id: str | None = None, fields: dict[str, str] | None = None,
                     all_fields: bool = False, target_execution_id: str | None = None) -> dict[str, Any]:
        """Copy field histories from one execution's context to another's (fields maps source to target)."""
        source_id = source_execution_id or execution_id
        target_id = target_execution_id or execution_id
        if not all_fields and not fields:
            return {"error": _NEITHER}
        outside = [i for i in (source_id, target_id) if not within_own_tree(backends, execution_id, i)]
        if outside:
            return {"error": f"Execution '{outside[0]}' is outside this execution's tree "
                             "(built-in tools are confined to their own tree here)"}
        source = backends.context.get_context(source_id)
        mapping = _mapping(source, fields, all_fields)
        for src in mapping:
            if not _is_user_field(src) or src not in source:
                return {"error": f"Source field '{src}' not found in execution {source_id}"}
        with execution_lock(target_id):
            target = backends.context.get_context(target_id)
            for src, dst in mapping.items():
                target[dst] = copy.deepcopy(source[src])
            backends.context.save_context(target_id, target)
        return {"status": "copied", "source_execution": source_id, "target_execution": target_id,
                "fields_copied": mapping}

    return copy_context
