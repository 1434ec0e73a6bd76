"""Ready-made backends: in-memory and local-file, and the factories that build them.

``LocalContextSchemaBackend``, ``LocalIdentityBackend``, ``LocalBackends`` and
the in-memory classes are importable from here too; ``__all__`` lists the
names SPEC §1.1 fixes for this module.
"""

from __future__ import annotations

from soe.backends.files import (  # noqa: F401
    LocalContextBackend,
    LocalContextSchemaBackend,
    LocalConversationHistoryBackend,
    LocalIdentityBackend,
    LocalTelemetryBackend,
    LocalWorkflowBackend,
)
from soe.backends.memory import (  # noqa: F401
    InMemoryContextBackend,
    InMemoryContextSchemaBackend,
    InMemoryConversationHistoryBackend,
    InMemoryIdentityBackend,
    InMemoryTelemetryBackend,
    InMemoryWorkflowBackend,
)
from soe.local_backends.factory import (  # noqa: F401
    LocalBackends,
    create_in_memory_backends,
    create_local_backends,
)

__all__ = [
    "create_in_memory_backends",
    "create_local_backends",
    "LocalContextBackend",
    "LocalWorkflowBackend",
    "LocalTelemetryBackend",
    "LocalConversationHistoryBackend",
]
