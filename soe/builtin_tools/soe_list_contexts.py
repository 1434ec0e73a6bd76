"""Built-in ``soe_list_contexts``: summarise the contexts a file backend holds (SPEC §10.2).

Only a context backend with an existing ``storage_dir`` can be listed; an
in-memory backend gives an empty list. Files that cannot be read are skipped.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from soe.builtin_tools._common import within_own_tree
from soe.types import Backends

__all__ = ["create_soe_list_contexts_tool"]

_RECENT_SIGNALS = 5


def _storage_dir(backends: Backends) -> Path | None:
    directory = getattr(backends.context, "storage_dir", None)
    if directory is None:
        return None
    path = Path(directory)
    return path if path.is_dir() else None


def _summary(path: Path, current_id: str) -> dict[str, Any] | None:
    """One context file's entry, or ``None`` if it cannot be read as a context."""
    try:
        ctx = json.loads(path.read_text(encoding="utf-8"))
        operational = ctx.get("__operational__") or {}
        requests = ctx.get("user_request")
        return {
            "execution_id": path.stem,
            "is_current": path.stem == current_id,
            "user_request": requests[-1] if isinstance(requests, list) and requests else None,
            "signals": list(operational.get("signals") or [])[-_RECENT_SIGNALS:],
            "node_count": sum((operational.get("nodes") or {}).values()),
        }
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def create_soe_list_contexts_tool(backends: Backends, execution_id: str,
                                  tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``list_contexts`` to ``execution_id`` (it marks the current one, Q7)."""

    def list_contexts(include_current: bool = True) -> dict[str, Any]:
        """List stored executions with their last user request, recent signals and node count."""
        contexts: list[dict[str, Any]] = []
        directory = _storage_dir(backends)
        for path in sorted(directory.glob("*.json")) if directory else []:
            if path.stem == execution_id and not include_current:
                continue
            if not within_own_tree(backends, execution_id, path.stem):
                continue
            summary = _summary(path, execution_id)
            if summary is not None:
                contexts.append(summary)
        return {"current_execution_id": execution_id, "contexts": contexts}

    return list_contexts
