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


def _dead_local_owner(owner: str | None) -> bool:
    """Whether ``owner`` was a process on this host that no longer exists (it was killed)."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _acquire(store: RuntimeStore, main_execution_id: str, owner: str) -> bool:
    """Take the lease; a lease left by a killed process on this host is broken at once."""
    if store.acquire_lease(main_execution_id, owner, LEASE_SECONDS):
        return True
    holder = store.lease_owner(main_execution_id)
    if holder is None or not _dead_local_owner(holder):
        return False
    store.release_lease(main_execution_id, holder)
    return store.acquire_lease(main_execution_id, owner, LEASE_SECONDS)


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
    if not _acquire(store, main_execution_id, owner):
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
