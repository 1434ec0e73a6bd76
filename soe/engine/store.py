"""The engine's writes to the context backend.

Backends that offer the optional atomic methods (``append_to_field``,
``update_operational``) get one call per write. Any other backend gets the
documented fallback: read-modify-write of the whole context under a lock
striped by execution id, so concurrent writers in this process never lose an
update.
"""

from __future__ import annotations

import threading
from typing import Any

from soe.lib.context_fields import set_field
from soe.lib.operational import apply_operational_event
from soe.types import Backends

__all__ = ["append_field", "execution_lock", "update_operational"]

_STRIPES = [threading.RLock() for _ in range(64)]


def execution_lock(execution_id: str) -> threading.RLock:
    """The in-process lock guarding read-modify-write of one execution's context."""
    return _STRIPES[hash(execution_id) % len(_STRIPES)]


def append_field(backends: Backends, execution_id: str, field: str, value: Any) -> None:
    """Append ``value`` to ``field``'s stored history (or set a ``__`` key)."""
    context_backend = backends.context
    atomic = getattr(context_backend, "append_to_field", None)
    if atomic is not None:
        atomic(execution_id, field, value)
        return
    with execution_lock(execution_id):
        ctx = context_backend.get_context(execution_id)
        set_field(ctx, field, value)
        context_backend.save_context(execution_id, ctx)


def update_operational(backends: Backends, execution_id: str, event_type: str, data: dict[str, Any]) -> None:
    """Apply an event's counter change to the stored ``__operational__``."""
    context_backend = backends.context
    atomic = getattr(context_backend, "update_operational", None)
    if atomic is not None:
        atomic(execution_id, event_type, data)
        return
    with execution_lock(execution_id):
        ctx = context_backend.get_context(execution_id)
        operational = ctx.get("__operational__")
        if not isinstance(operational, dict):
            return
        apply_operational_event(operational, event_type, data)
        context_backend.save_context(execution_id, ctx)
