"""One live runner per tree across processes: a lease with a heartbeat (SPEC §15)."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from soe._errors import ResumeError
from soe.engine.durability import RuntimeStore

__all__ = ["LEASE_SECONDS", "held_lease"]

LEASE_SECONDS = 30.0


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@contextmanager
def held_lease(store: RuntimeStore | None, main_execution_id: str) -> Iterator[None]:
    """Hold the tree's lease while the block runs, renewing it from a heartbeat thread.

    Raises:
        ResumeError: another process holds a fresh lease on the tree.
    """
    if store is None:
        yield
        return
    owner = _owner()
    if not store.acquire_lease(main_execution_id, owner, LEASE_SECONDS):
        raise ResumeError(f"Execution '{main_execution_id}' is running in another process")
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(LEASE_SECONDS / 3):
            store.acquire_lease(main_execution_id, owner, LEASE_SECONDS)

    heartbeat = threading.Thread(target=beat, name=f"soe-lease-{main_execution_id}", daemon=True)
    heartbeat.start()
    try:
        yield
    finally:
        stop.set()
        heartbeat.join()
        store.release_lease(main_execution_id, owner)
