"""Refusing request bodies over a size limit (413) before they are read whole.

A declared ``Content-Length`` over the limit is refused at once; a body sent
without one (chunked) is counted as it arrives and refused when it passes.
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit"]

MAX_BODY_BYTES = 5 * 1024 * 1024


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
