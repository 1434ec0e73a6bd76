"""The backends container (SPEC §11.2): the six backends an execution uses.

It lives with the backends because the SQLite and PostgreSQL containers extend
it; ``soe.local_backends.factory`` re-exports it at the path the SPEC fixes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalBackends"]


class LocalBackends:
    """The six backends an execution uses; the optional ones may be ``None``."""

    def __init__(self, context_backend: Any, workflow_backend: Any, telemetry_backend: Any = None,
                 conversation_history_backend: Any = None, context_schema_backend: Any = None,
                 identity_backend: Any = None) -> None:
        self.context = context_backend
        self.workflow = workflow_backend
        self.telemetry = telemetry_backend
        self.conversation_history = conversation_history_backend
        self.context_schema = context_schema_backend
        self.identity = identity_backend

    def cleanup_all(self) -> None:
        """Call ``cleanup_all()`` on every backend that is present."""
        for backend in (self.context, self.workflow, self.telemetry, self.conversation_history,
                        self.context_schema, self.identity):
            if backend is not None:
                backend.cleanup_all()
