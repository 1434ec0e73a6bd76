"""Built-in ``soe_get_identities``: read the identities of the execution tree (SPEC §10.2, Q12).

Identities are stored under the main execution id, so the tool works the same
inside a child execution.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._tree_mappings import IDENTITIES
from soe.types import Backends

__all__ = ["create_soe_get_identities_tool"]


def create_soe_get_identities_tool(execution_id: str, backends: Backends,
                                   tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_get_identities`` to ``execution_id`` (Q7)."""

    def soe_get_identities(identity_name: str | None = None, list_only: bool = False) -> dict[str, Any]:
        """List identity names, show one identity's system prompt, or return all identities."""
        if list_only:  # wins over "no identities": a caller asking for names gets a list
            return {"identity_names": list(IDENTITIES.read(backends, execution_id) or {})}
        return IDENTITIES.show(backends, execution_id, identity_name)

    return soe_get_identities
