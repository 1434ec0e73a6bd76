"""What every node caller shares: reporting sandbox violations before they propagate."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from soe._errors import TemplateSecurityError
from soe.engine.telemetry import register_event

__all__ = ["NodeCallerFn", "node_caller"]

NodeCallerFn = Callable[[str, dict], None]

# Set on a TemplateSecurityError once its event is written, so outer node callers skip it.
_REGISTERED = "_soe_template_security_registered"


def node_caller(backends: Any) -> Callable[[NodeCallerFn], NodeCallerFn]:
    """Decorate a node caller so a ``TemplateSecurityError`` is registered on its execution.

    The event (``template_security_error``) is written once, by the node that
    rendered the template, and the error then passes through every handler.
    A node whose own work started another tree (a tool calling ``orchestrate``)
    sees that tree's error already registered and does not register it again.
    """

    def decorate(caller: NodeCallerFn) -> NodeCallerFn:
        @functools.wraps(caller)
        def run(execution_id: str, node_config: dict) -> None:
            try:
                caller(execution_id, node_config)
            except TemplateSecurityError as exc:
                if not getattr(exc, _REGISTERED, False):
                    setattr(exc, _REGISTERED, True)
                    register_event(backends, execution_id, "template_security_error",
                                   {"node_name": exc.node_name, "error": str(exc)})
                raise

        return run

    return decorate
