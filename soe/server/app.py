"""The FastAPI application: the ``/v1`` API, the web UI at ``/`` and the OpenAPI page at ``/docs``.

Security rules live here, in front of every route: with keys configured each
``/v1`` request needs ``Authorization: Bearer KEY`` (401 otherwise); a body
over :data:`MAX_BODY_BYTES` is refused with 413 before it is read whole; no
CORS headers are sent, so browsers keep other sites' pages out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soe.server.auth import ApiKeys
from soe.server.service import ExecutionService, NotFound, Rejected
from soe.server.sse import event_stream, first_event_index

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 5 * 1024 * 1024
UI_DIR = Path(__file__).with_name("ui")
STATUSES = ("queued", "running", "waiting", "completed", "failed")
# Declares the bearer scheme in the OpenAPI document (the Authorize button of /docs); checked below.
_BEARER = HTTPBearer(auto_error=False, description="An API key from the server's --api-key-file")


class BodyLimit:
    """ASGI middleware: 413 for a declared or streamed body larger than ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge(self.limit)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse({"detail": _TooLarge(self.limit).detail}, status_code=413)
        await response({"type": "http"}, _no_body, send)


class _TooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so that FastAPI answers it as 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"Request body larger than {limit} bytes")


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


# --------------------------------------------------------------------------- request bodies


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
    execution_id: str
    status: str


# --------------------------------------------------------------------------- app


def _rejected(exc: Rejected) -> HTTPException:
    detail: dict[str, Any] = {"message": exc.message}
    if exc.line is not None:
        detail["location"] = {"line": exc.line, "column": exc.column}
    return HTTPException(422, detail=detail)


def _parsed_workflow(workflow: str | dict[str, Any]) -> str | dict[str, Any]:
    """YAML text is kept as text (positions in errors); a parse failure is the client's mistake."""
    if isinstance(workflow, str):
        try:
            yaml.safe_load(workflow)
        except yaml.YAMLError as exc:
            raise HTTPException(400, detail={"message": f"Invalid YAML configuration: {exc}"}) from exc
    return workflow


def create_app(service: ExecutionService, keys: ApiKeys | None = None) -> FastAPI:
    """The application serving ``service``; ``keys`` (when non-empty) guard every ``/v1`` route."""
    keys = keys or ApiKeys([])

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        presented = f"{credentials.scheme} {credentials.credentials}" if credentials else None
        if keys.required and not keys.accepts(presented):
            raise HTTPException(401, detail="Missing or wrong API key: send Authorization: Bearer KEY",
                                headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(title="SOE", summary="Signal-driven Orchestration Engine as a service",
                  version="1", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    api = Depends(authorized)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.post("/v1/executions", status_code=202, response_model=Accepted, dependencies=[api])
    def start(body: StartRequest) -> Accepted:
        """Validate and start a workflow in the background."""
        try:
            execution_id = service.start(_parsed_workflow(body.workflow), body.workflow_name,
                                         body.signals, body.context)
        except Rejected as exc:
            raise _rejected(exc) from exc
        return Accepted(execution_id=execution_id, status="queued")

    @app.get("/v1/executions", dependencies=[api])
    def list_executions(status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
                        offset: Annotated[int, Query(ge=0)] = 0,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
        """Executions newest first, optionally with one status."""
        return service.list(status, offset, limit)

    @app.get("/v1/executions/{execution_id}", dependencies=[api])
    def describe(execution_id: str) -> dict[str, Any]:
        """Status, context (last values), ``__operational__``, ``waiting_for`` and error."""
        return service.describe(execution_id)

    @app.get("/v1/executions/{execution_id}/history", dependencies=[api])
    def history(execution_id: str) -> dict[str, Any]:
        """Every value of every context field, oldest first."""
        return service.history(execution_id)

    @app.get("/v1/executions/{execution_id}/graph", dependencies=[api])
    def graph(execution_id: str) -> dict[str, str]:
        """The execution's current workflows as Mermaid text."""
        return {"mermaid": service.graph(execution_id)}

    @app.get("/v1/executions/{execution_id}/events", dependencies=[api],
             response_class=StreamingResponse)
    def events(execution_id: str, request: Request,
               last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None) -> StreamingResponse:
        """Telemetry as Server-Sent Events; reconnect with ``Last-Event-ID`` to resume."""
        service.status(execution_id)  # 404 before the stream starts
        try:
            start_at = first_event_index(last_event_id)
        except ValueError as exc:
            raise HTTPException(400, detail=f"Invalid Last-Event-ID: {last_event_id!r}") from exc
        stream = event_stream(lambda: service.events(execution_id), lambda: service.status(execution_id),
                              start_at, request.is_disconnected)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/executions/{execution_id}/signals", status_code=202, response_model=Accepted,
              dependencies=[api])
    def signal(execution_id: str, body: SignalRequest) -> Accepted:
        """Send signals (e.g. a person's answer to a waiting execution)."""
        try:
            service.signal(execution_id, body.signals, body.context)
        except Rejected as exc:
            raise _rejected(exc) from exc
        return Accepted(execution_id=execution_id, status="queued")

    @app.get("/v1/executions/{execution_id}/revisions", dependencies=[api])
    def revisions(execution_id: str) -> list[dict[str, Any]]:
        """The registry's numbered revisions, oldest first."""
        return service.revisions(execution_id)

    @app.get("/v1/executions/{execution_id}/revisions/{target}/diff", dependencies=[api])
    def diff(execution_id: str, target: int,
             base: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
        """What changed from revision ``base`` (default: the one before) to ``target``."""
        base = max(target - 1, 0) if base is None else base
        return {"base": base, "target": target, "diff": service.diff(execution_id, base, target)}

    @app.post("/v1/executions/{execution_id}/revisions/{revision}/rollback", dependencies=[api])
    def rollback(execution_id: str, revision: int) -> dict[str, int]:
        """Restore the registry as it was at ``revision`` (recorded as a new revision)."""
        return {"revision": service.rollback(execution_id, revision)}

    _mount_ui(app, keys.required)
    return app


# The UI's pages run only the package's own scripts; Mermaid's SVG needs inline styles.
UI_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")


def _mount_ui(app: FastAPI, keys_required: bool) -> None:
    """The web UI (one page for the list and one per execution) and the OpenAPI page, all offline."""
    page = (UI_DIR / "index.html").read_text(encoding="utf-8")
    html = page.replace("__SOE_KEYS_REQUIRED__", "true" if keys_required else "false")

    def index() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": UI_POLICY})

    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="SOE API",
                                   swagger_js_url="/ui/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/ui/vendor/swagger-ui.css",
                                   swagger_favicon_url="/favicon.ico")

    app.get("/", include_in_schema=False)(index)
    app.get("/executions/{execution_id}", include_in_schema=False)(lambda execution_id: index())
    app.get("/docs", include_in_schema=False)(docs)
    app.mount("/ui", StaticFiles(directory=UI_DIR), name="ui")
    app.get("/favicon.ico", include_in_schema=False)(lambda: FileResponse(UI_DIR / "favicon.svg"))
