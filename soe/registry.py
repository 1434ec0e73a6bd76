"""Registry changes from Python (SPEC §15 "Registry revisions"), at the path the SPEC fixes.

The code lives in :mod:`soe.revisions`; this module only re-exports it.
"""

from __future__ import annotations

from soe.revisions.editor import (
    NODE_CONFIG_ERROR,
    RegistryChange,
    RegistryEditor,
    add_signal,
    change_registry,
    check_workflow_name,
    inject_node,
    inject_workflow,
    remove_node,
    remove_workflow,
    rollback_registry,
)
from soe.revisions.history import (
    API_AUTHOR,
    diff_revisions,
    get_registry_revisions,
    record_initial_revision,
)

__all__ = [
    "API_AUTHOR",
    "NODE_CONFIG_ERROR",
    "RegistryChange",
    "RegistryEditor",
    "add_signal",
    "change_registry",
    "check_workflow_name",
    "diff_revisions",
    "get_registry_revisions",
    "inject_node",
    "inject_workflow",
    "record_initial_revision",
    "remove_node",
    "remove_workflow",
    "rollback_registry",
]
