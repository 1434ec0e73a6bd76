"""The built-in tool names in ``BUILTIN_TOOLS`` key order (SPEC §10.2).

``soe_get_available_tools`` lists them; it reads them here rather than from
the package, which imports every tool module (that would be an import cycle).
A test keeps this tuple and ``BUILTIN_TOOLS`` identical.
"""

from __future__ import annotations

__all__ = ["BUILTIN_TOOL_NAMES"]

BUILTIN_TOOL_NAMES = (
    "soe_inject_workflow",
    "soe_inject_node",
    "soe_get_workflows",
    "soe_get_available_tools",
    "soe_explore_docs",
    "soe_remove_workflow",
    "soe_remove_node",
    "soe_get_context",
    "soe_update_context",
    "soe_copy_context",
    "soe_list_contexts",
    "soe_add_signal",
    "soe_call_tool",
    "soe_get_identities",
    "soe_inject_identity",
    "soe_remove_identity",
    "soe_get_context_schema",
    "soe_inject_context_schema_field",
    "soe_remove_context_schema_field",
)
