"""What every node caller shares: its two ways to run, and reporting template failures.

A node type whose work waits (LLM, agent, tool) is written as a generator of
waits (``soe.lib.effects``). Its caller keeps SPEC §1.6's shape,
``caller(execution_id, node_config) -> None``, performing each wait in place,
and also carries ``caller.steps``: the generator itself, which a runner drives
so that waits overlap and every transition is applied atomically (a handler
that never waits gets a one-step generator). A runner hands ``steps`` the
node's config read-only, as the registry snapshot holds it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from soe._errors import TemplateRenderError, TemplateSecurityError
from soe.engine.telemetry import register_event
from soe.lib.effects import Steps, run_inline
from soe.types import Backends, EventTypes

__all__ = ["NodeCallerFn", "node_caller"]

NodeCallerFn = Callable[[str, dict[str, Any]], None]

# Set on a TemplateSecurityError once its event is written, so outer node callers skip it.
_REGISTERED = "_soe_template_security_registered"


def _report(backends: Backends, execution_id: str, exc: TemplateSecurityError) -> None:
    """Register ``template_security_error`` once, on the node that rendered the template.

    A node whose own work started another tree (a tool calling ``orchestrate``)
    sees that tree's error already registered and does not register it again.
    """
    if not getattr(exc, _REGISTERED, False):
        setattr(exc, _REGISTERED, True)
        register_event(backends, execution_id, EventTypes.TEMPLATE_SECURITY_ERROR,
                       {"node_name": exc.node_name, "error": str(exc)})


def _name_workflow(backends: Backends, execution_id: str, exc: TemplateRenderError | TemplateSecurityError) -> None:
    """Record on a template error which workflow the failing node belongs to (the renderer cannot know)."""
    if exc.workflow_name is None:
        try:
            exc.workflow_name = backends.workflow.get_current_workflow_name(execution_id) or None
        except Exception:  # noqa: BLE001 - only a label; the original error matters
            pass


def _on_template_error(backends: Backends, execution_id: str, exc: TemplateRenderError | TemplateSecurityError) -> None:
    _name_workflow(backends, execution_id, exc)
    if isinstance(exc, TemplateSecurityError):
        _report(backends, execution_id, exc)


def node_caller(backends: Backends) -> Callable[[Callable[[str, dict[str, Any]], Any]], NodeCallerFn]:
    """Decorate a node's handler (plain function or generator of waits) into its caller."""

    def decorate(handler: Callable[[str, dict[str, Any]], Any]) -> NodeCallerFn:
        if not inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def run(execution_id: str, node_config: dict[str, Any]) -> None:
                try:
                    handler(execution_id, node_config)
                except (TemplateRenderError, TemplateSecurityError) as exc:
                    _on_template_error(backends, execution_id, exc)
                    raise

            def one_step(execution_id: str, node_config: dict[str, Any]) -> Steps[None]:
                run(execution_id, node_config)
                return
                yield  # a generator that never waits

            run.steps = one_step  # type: ignore[attr-defined]
            return run

        def steps(execution_id: str, node_config: dict[str, Any]) -> Steps[None]:
            try:
                yield from handler(execution_id, node_config)
            except (TemplateRenderError, TemplateSecurityError) as exc:
                _on_template_error(backends, execution_id, exc)
                raise

        @functools.wraps(handler)
        def caller(execution_id: str, node_config: dict[str, Any]) -> None:
            run_inline(steps(execution_id, node_config))

        caller.steps = steps  # type: ignore[attr-defined]
        return caller

    return decorate

