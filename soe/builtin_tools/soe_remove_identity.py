"""Built-in ``soe_remove_identity``: delete an identity (SPEC §10.2, Q12).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import load_identities, record_tool_event

__all__ = ["create_soe_remove_identity_tool"]

OPERATION = "soe_remove_identity"


def create_soe_remove_identity_tool(execution_id: str, backends: Any,
                                    tools_registry: dict | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_remove_identity`` to ``execution_id`` (Q7)."""

    def soe_remove_identity(identity_name: str) -> dict[str, Any]:
        """Remove an identity from this execution tree."""
        main_id, identities = load_identities(backends, execution_id)
        if not isinstance(identity_name, str) or identity_name not in identities:
            raise ValueError(f"Identity '{identity_name}' not found")
        del identities[identity_name]
        backends.identity.save_identities(main_id, identities)
        record_tool_event(backends, execution_id, {"tool": OPERATION, "identity_name": identity_name})
        return {"removed": True, "identity_name": identity_name,
                "message": f"Successfully removed identity '{identity_name}'"}

    return soe_remove_identity
