"""What every node caller shares: reporting sandbox violations before they propagate."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from soe._errors import TemplateSecurityError
from soe.engine.telemetry import register_event

__all__ = ["NodeCallerFn", "node_caller"]

NodeCallerFn = Callable[[str, dict], None]


def node_caller(backends: Any) -> Callable[[NodeCallerFn], NodeCallerFn]:
    """Decorate a node caller so a ``TemplateSecurityError`` is registered on its execution.

    The event (``template_security_error``) is written once, by the node that
    rendered the template, and the error then passes through every handler.
    """

    def decorate(caller: NodeCallerFn) -> NodeCallerFn:
        @functools.wraps(caller)
        def run(execution_id: str, node_config: dict) -> None:
            try:
                caller(execution_id, node_config)
            except TemplateSecurityError as exc:
                register_event(backends, execution_id, "template_security_error",
                               {"node_name": exc.node_name, "error": str(exc)})
                raise

        return run

    return decorate
