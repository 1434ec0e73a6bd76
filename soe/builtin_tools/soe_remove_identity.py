"""Built-in ``soe_remove_identity``: delete an identity (SPEC §10.2, Q12).

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._tree_mappings import IDENTITIES
from soe.types import Backends

__all__ = ["create_soe_remove_identity_tool"]

OPERATION = "soe_remove_identity"


def create_soe_remove_identity_tool(execution_id: str, backends: Backends,
                                    tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_remove_identity`` to ``execution_id`` (Q7)."""

    def soe_remove_identity(identity_name: str) -> dict[str, Any]:
        """Remove an identity from this execution tree."""
        return IDENTITIES.remove(backends, execution_id, OPERATION, identity_name)

    return soe_remove_identity
