"""SOE as a service (``pip install soe-ai[server]``): an HTTP API, live events and a web UI.

``soe serve`` builds an :class:`~soe.server.service.ExecutionService` on one
store and serves :func:`~soe.server.app.create_app` with uvicorn. FastAPI and
uvicorn are imported only by this package, so the engine never needs them.
"""

from __future__ import annotations

__all__ = ["SERVER_EXTRA_MESSAGE"]

SERVER_EXTRA_MESSAGE = "soe serve needs the server extra: pip install soe-ai[server]"
