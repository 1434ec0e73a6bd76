"""The runner's own state, for backends that can persist it (SPEC §15 "Durability").

A backends container may carry an optional ``runtime`` attribute implementing
:class:`RuntimeStore`. With it, the runner commits each work item atomically
with the state it produced (context, telemetry, registry, the remaining
queue), keeps a per-tree status and lease, and journals LLM and tool results
so ``resume`` neither repeats finished work nor pays for a call twice.
Without it (in-memory and local-file backends) executions live in-process.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from soe.lib.tree_rows import TreeRows
from soe.types import Backends

__all__ = ["RuntimeStore", "runtime_store"]


@runtime_checkable
class RuntimeStore(Protocol):
    """What a durable store offers the runner. All methods are thread-safe."""

    def transaction(self) -> AbstractContextManager[None]:
        """Make every backend write inside the block (this thread) commit together, or not at all.

        Nested calls join the outer transaction.
        """

    # -- per-execution status ------------------------------------------------------------
    def set_status(self, execution_id: str, main_execution_id: str, status: str,
                   error: str | None = None) -> None:
        """Record ``running``, ``completed`` or ``failed`` (with the error text)."""

    def get_status(self, execution_id: str) -> dict[str, Any] | None:
        """``{"execution_id", "main_execution_id", "status", "error", "updated_at"}`` or ``None``."""

    def list_executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Status records, optionally only those with ``status``, oldest first."""

    # -- per-tree runner state -----------------------------------------------------------
    def save_tree(self, main_execution_id: str, state: dict[str, Any], rows: TreeRows | None = None) -> None:
        """Store the tree's JSON-able runner state (steps taken, limits, the top of the queue) and ``rows``."""

    def load_tree(self, main_execution_id: str) -> dict[str, Any] | None:
        """The last committed runner state of a tree, or ``None``.

        ``"queue"`` lists the row frames (by key) then the state's own frames,
        ``"in_flight"`` the row items (by key) then the state's own.
        """

    # -- lease: one live runner per tree across processes --------------------------------
    def acquire_lease(self, main_execution_id: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the tree's lease; ``False`` while another owner's lease is fresh."""

    def release_lease(self, main_execution_id: str, owner: str) -> None:
        """Give the lease up (only if ``owner`` holds it)."""

    def lease_is_fresh(self, main_execution_id: str) -> bool:
        """Whether some owner holds an unexpired lease on the tree."""

    def lease_owner(self, main_execution_id: str) -> str | None:
        """The owner of the tree's unexpired lease, or ``None``."""

    # -- journal of completed LLM and tool calls -----------------------------------------
    def journal_get(self, key: str) -> Any:
        """The recorded JSON-able result for ``key``, or the sentinel ``soe.lib.missing.MISSING``."""

    def journal_put(self, key: str, value: Any) -> None:
        """Record a call's JSON-able result; committed at once, outside any transaction."""

    # -- housekeeping ---------------------------------------------------------------------
    def prune(self, older_than: datetime | timedelta, keep_failed: bool = True) -> int:
        """Delete finished executions last updated before ``older_than``; returns how many (``soe.prune``)."""


def runtime_store(backends: Backends) -> RuntimeStore | None:
    """The backends' runtime store, if they have one."""
    return getattr(backends, "runtime", None)
