"""Built-in ``soe_inject_identity``: create or update an identity's system prompt (SPEC §10.2, Q12).

Saved under the main execution id, where LLM and agent nodes look identities up.

No ``from __future__ import annotations`` here: agents build the tool's parameter
model from its signature, so the annotations must be real typing objects.
"""

from collections.abc import Callable
from typing import Any

from soe.builtin_tools._common import require_string
from soe.builtin_tools._tree_mappings import IDENTITIES
from soe.types import Backends

__all__ = ["create_soe_inject_identity_tool"]

OPERATION = "soe_inject_identity"


def create_soe_inject_identity_tool(execution_id: str, backends: Backends,
                                    tools_registry: dict[str, Any] | None = None) -> Callable[..., dict[str, Any]]:
    """Bind ``soe_inject_identity`` to ``execution_id`` (Q7)."""

    def soe_inject_identity(identity_name: str, system_prompt: str) -> dict[str, Any]:
        """Create an identity with a system prompt, or replace an existing identity's prompt."""
        require_string("identity_name", identity_name)
        if not isinstance(system_prompt, str):
            raise ValueError(f"'system_prompt' must be a string, got {type(system_prompt).__name__}")
        return IDENTITIES.inject(backends, execution_id, OPERATION, identity_name, system_prompt)

    return soe_inject_identity
