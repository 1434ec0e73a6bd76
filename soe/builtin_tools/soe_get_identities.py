"""Built-in ``soe_get_identities``: read the identities of the execution tree (SPEC §10.2, Q12).

Identities are stored under the main execution id, so the tool works the same
inside a child execution.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

import copy
from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import main_execution_id

__all__ = ["create_soe_get_identities_tool"]


def create_soe_get_identities_tool(execution_id: str, backends: Any,
                                   tools_registry: dict | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_get_identities`` to ``execution_id`` (Q7)."""

    def soe_get_identities(identity_name: str | None = None, list_only: bool = False) -> dict[str, Any]:
        """List identity names, show one identity's system prompt, or return all identities."""
        backend = backends.identity
        identities = None if backend is None else backend.get_identities(main_execution_id(backends, execution_id))
        if list_only:  # wins over "no identities": a caller asking for names gets a list
            return {"identity_names": list(identities or {})}
        if identities is None:
            return {}
        if identity_name:
            if identity_name not in identities:
                return {"error": f"Identity '{identity_name}' not found", "available": list(identities)}
            return {"identity_name": identity_name, "system_prompt": identities[identity_name]}
        return copy.deepcopy(dict(identities))  # never the backend's stored object

    return soe_get_identities
