"""SOE as a service (the ``server`` extra): an HTTP API, live events and a web UI.

``soe serve`` builds an :class:`~soe.server.service.ExecutionService` on one
store and serves :func:`~soe.server.app.create_app` with uvicorn. FastAPI and
uvicorn are imported only by this package, so the engine never needs them.
"""

from __future__ import annotations

__all__ = ["SERVER_EXTRA_MESSAGE"]

SERVER_EXTRA_MESSAGE = ("soe serve needs the server extra (FastAPI and uvicorn): pip install fastapi uvicorn, "
                        "or reinstall SOE with it (pip install \".[server]\" from a checkout)")
