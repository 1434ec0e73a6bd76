"""The identities and context-schema built-ins, one table (SPEC §10.2, Q12).

Six tools read, set and remove entries of a mapping stored per execution tree
under the main execution id; the two families differ only in where the mapping
lives, the result keys and the messages. Each tool module keeps its own
signature (agents build parameter models from it) and calls the one
implementation here with its family's ``TreeMapping``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from soe.builtin_tools._common import main_execution_id, record_tool_event
from soe.types import Backends

__all__ = ["CONTEXT_SCHEMA", "IDENTITIES", "TreeMapping"]


@dataclass(frozen=True)
class TreeMapping:
    """Where one per-tree mapping is stored and how its tools name things."""

    attribute: str  # the backend's attribute on ``Backends``
    getter: str
    saver: str
    key: str  # the entry-name argument and result key
    value_key: str  # the result key of one entry's value
    not_found: str
    injected: str
    removed: str

    def _backend(self, backends: Backends) -> Any:
        return getattr(backends, self.attribute)

    def read(self, backends: Backends, execution_id: str) -> Mapping[str, Any] | None:
        """The tree's stored mapping, ``None`` without a backend or without a saved mapping."""
        backend = self._backend(backends)
        return None if backend is None else getattr(backend, self.getter)(main_execution_id(backends, execution_id))

    def show(self, backends: Backends, execution_id: str, name: str | None) -> dict[str, Any]:
        """One entry (or an error naming the available ones), else a copy of the whole mapping."""
        stored = self.read(backends, execution_id)
        if stored is None:
            return {}
        if name:
            if name not in stored:
                return {"error": self.not_found.format(name=name), "available": list(stored)}
            return {self.key: name, self.value_key: copy.deepcopy(stored[name])}
        return copy.deepcopy(dict(stored))  # never the backend's stored object

    def _load_for_edit(self, backends: Backends, execution_id: str) -> tuple[str, dict[str, Any]]:
        """``(main id, plain copy of the tree's mapping)``: edits never touch the backend's stored object."""
        backend = self._backend(backends)
        if backend is None:
            raise ValueError(f"No {self.attribute} backend is configured")
        main_id = main_execution_id(backends, execution_id)
        stored = getattr(backend, self.getter)(main_id)
        return main_id, (copy.deepcopy(dict(stored)) if isinstance(stored, Mapping) else {})

    def _save(self, backends: Backends, main_id: str, mapping: dict[str, Any]) -> None:
        getattr(self._backend(backends), self.saver)(main_id, mapping)

    def inject(self, backends: Backends, execution_id: str, operation: str, name: str, value: Any) -> dict[str, Any]:
        """Create or replace the entry ``name`` (already validated by the tool)."""
        main_id, mapping = self._load_for_edit(backends, execution_id)
        action = "updated" if name in mapping else "created"
        mapping[name] = value
        self._save(backends, main_id, mapping)
        record_tool_event(backends, execution_id, {"tool": operation, self.key: name, "action": action})
        return {"success": True, self.key: name, "action": action,
                "message": self.injected.format(action=action, name=name)}

    def remove(self, backends: Backends, execution_id: str, operation: str, name: Any) -> dict[str, Any]:
        """Delete the entry ``name``; a missing one is an error the node sees."""
        main_id, mapping = self._load_for_edit(backends, execution_id)
        if not isinstance(name, str) or name not in mapping:
            raise ValueError(self.not_found.format(name=name))
        del mapping[name]
        self._save(backends, main_id, mapping)
        record_tool_event(backends, execution_id, {"tool": operation, self.key: name})
        return {"removed": True, self.key: name, "message": self.removed.format(name=name)}


IDENTITIES = TreeMapping(
    attribute="identity", getter="get_identities", saver="save_identities",
    key="identity_name", value_key="system_prompt",
    not_found="Identity '{name}' not found",
    injected="Successfully {action} identity '{name}'",
    removed="Successfully removed identity '{name}'",
)

CONTEXT_SCHEMA = TreeMapping(
    attribute="context_schema", getter="get_context_schema", saver="save_context_schema",
    key="field_name", value_key="definition",
    not_found="Field '{name}' not found in context schema",
    injected="Successfully {action} field '{name}' in context schema",
    removed="Successfully removed field '{name}' from context schema",
)
