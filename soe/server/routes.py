"""The ``/v1`` routes: thin translations between HTTP and :class:`ExecutionService`.

The service and the keys live on ``app.state`` (set by ``create_app``); every
route of :data:`router` first passes :func:`authorized`.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from soe.lib.yaml_parser import parse_yaml
from soe.server.service import ExecutionService, Rejected
from soe.server.sse import event_stream, first_event_index

__all__ = ["Accepted", "SignalRequest", "StartRequest", "router"]

STATUSES = ("queued", "running", "waiting", "completed", "failed")
# Declares the bearer scheme in the OpenAPI document (the Authorize button of /docs).
_BEARER = HTTPBearer(auto_error=False, description="An API key from the server's --api-key-file")


class StartRequest(BaseModel):
    """A workflow to start: YAML text or a mapping (either config shape)."""

    model_config = ConfigDict(extra="forbid")
    workflow: str | dict[str, Any] = Field(description="Workflow config: YAML text or a mapping")
    workflow_name: str | None = Field(None, description="Workflow to start (default: the first)")
    signals: list[str] = Field(default_factory=lambda: ["START"], min_length=1)
    context: dict[str, Any] = Field(default_factory=dict, description="Initial context")


class SignalRequest(BaseModel):
    """Signals for a stored execution, with context values appended first."""

    model_config = ConfigDict(extra="forbid")
    signals: list[str] = Field(min_length=1)
    context: dict[str, Any] = Field(default_factory=dict)


class Accepted(BaseModel):
    """A start or a signal handed to the background: the execution it concerns."""

    execution_id: str
    status: str


def authorized(request: Request,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
    """401 unless the server has no keys or the request carries one of them."""
    keys = request.app.state.keys
    presented = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    if keys.required and not keys.accepts(presented):
        raise HTTPException(401, detail="Missing or wrong API key: send Authorization: Bearer KEY",
                            headers={"WWW-Authenticate": "Bearer"})


def _service(request: Request) -> ExecutionService:
    return cast("ExecutionService", request.app.state.service)


Service = Annotated[ExecutionService, Depends(_service)]
router = APIRouter(prefix="/v1/executions", dependencies=[Depends(authorized)])


def _rejected(exc: Rejected) -> HTTPException:
    detail: dict[str, Any] = {"message": exc.message}
    if exc.line is not None:
        detail["location"] = {"line": exc.line, "column": exc.column}
    return HTTPException(422, detail=detail)


def _parsed_workflow(workflow: str | dict[str, Any]) -> str | dict[str, Any]:
    """YAML text is kept as text (positions in errors); text that does not parse is a 400.

    It is parsed by the engine's own loader, so whatever YAML the engine refuses is refused here.
    """
    if isinstance(workflow, str):
        try:
            parse_yaml(workflow)
        except ValueError as exc:
            raise HTTPException(400, detail={"message": str(exc)}) from exc
    return workflow


@router.post("", status_code=202, response_model=Accepted)
def start(body: StartRequest, service: Service) -> Accepted:
    """Validate and start a workflow in the background."""
    try:
        execution_id = service.start(_parsed_workflow(body.workflow), body.workflow_name,
                                     body.signals, body.context)
    except Rejected as exc:
        raise _rejected(exc) from exc
    return Accepted(execution_id=execution_id, status="queued")


@router.get("")
def list_executions(service: Service,
                    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
                    offset: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    """Executions newest first, optionally with one status."""
    return service.list_executions(status, offset, limit)


@router.get("/{execution_id}")
def describe(execution_id: str, service: Service) -> dict[str, Any]:
    """Status, context (last values), ``__operational__``, ``waiting_for`` and error."""
    return service.describe(execution_id)


@router.get("/{execution_id}/history")
def history(execution_id: str, service: Service) -> dict[str, Any]:
    """Every value of every context field, oldest first."""
    return service.history(execution_id)


@router.get("/{execution_id}/graph")
def graph(execution_id: str, service: Service) -> dict[str, str]:
    """The execution's current workflows as Mermaid text."""
    return {"mermaid": service.graph(execution_id)}


@router.get("/{execution_id}/events", response_class=StreamingResponse)
def events(execution_id: str, request: Request, service: Service,
           last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None) -> StreamingResponse:
    """Telemetry as Server-Sent Events; reconnect with ``Last-Event-ID`` to resume."""
    service.status(execution_id)  # 404 before the stream starts
    try:
        start_at = first_event_index(last_event_id)
    except ValueError as exc:
        raise HTTPException(400, detail=f"Invalid Last-Event-ID: {last_event_id!r}") from exc
    stream = event_stream(lambda start: service.events(execution_id, start),
                          lambda: service.status(execution_id), start_at, request.is_disconnected)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{execution_id}/signals", status_code=202, response_model=Accepted)
def signal(execution_id: str, body: SignalRequest, service: Service) -> Accepted:
    """Send signals (e.g. a person's answer to a waiting execution)."""
    try:
        service.signal(execution_id, body.signals, body.context)
    except Rejected as exc:
        raise _rejected(exc) from exc
    return Accepted(execution_id=execution_id, status="queued")


@router.get("/{execution_id}/revisions")
def revisions(execution_id: str, service: Service) -> list[dict[str, Any]]:
    """The registry's numbered revisions, oldest first."""
    return service.revisions(execution_id)


@router.get("/{execution_id}/revisions/{target}/diff")
def diff(execution_id: str, target: int, service: Service,
         base: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
    """What changed from revision ``base`` (default: the one before) to ``target``."""
    base = max(target - 1, 0) if base is None else base
    return {"base": base, "target": target, "diff": service.diff(execution_id, base, target)}


@router.post("/{execution_id}/revisions/{revision}/rollback")
def rollback(execution_id: str, revision: int, service: Service) -> dict[str, int]:
    """Restore the registry as it was at ``revision`` (recorded as a new revision)."""
    return {"revision": service.rollback(execution_id, revision)}
