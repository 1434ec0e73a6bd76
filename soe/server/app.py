"""The FastAPI application: the ``/v1`` API, the web UI at ``/`` and the OpenAPI page at ``/docs``.

Security rules are applied in front of every route: with keys configured each
``/v1`` request needs ``Authorization: Bearer KEY`` (401 otherwise,
:func:`soe.server.routes.authorized`); a body over 5 MB is refused with 413
before it is read whole (:mod:`soe.server.body_limit`); no CORS headers are
sent, so browsers keep other sites' pages out; the UI's pages run under a
content security policy that allows only the package's own scripts.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from soe.server.auth import ApiKeys
from soe.server.body_limit import BodyLimit
from soe.server.routes import router
from soe.server.service import ExecutionService, NotFound

__all__ = ["UI_POLICY", "create_app"]

UI_DIR = Path(__file__).with_name("ui")
# The UI's pages run only the package's own scripts; Mermaid's SVG needs inline styles.
UI_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def create_app(service: ExecutionService, keys: ApiKeys | None = None) -> FastAPI:
    """The application serving ``service``; ``keys`` (when non-empty) guard every ``/v1`` route."""
    app = FastAPI(title="SOE", summary="Signal-driven Orchestration Engine as a service",
                  version="1", docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.keys = keys or ApiKeys([])
    app.add_middleware(BodyLimit)
    app.add_exception_handler(NotFound, _not_found)
    app.include_router(router)
    _mount_ui(app, app.state.keys.required)
    return app


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
