"""Durable execution on the embedded SQLite store.

1. ms per step for router chains of N = 200 and 2,000 (every step committed with its queue);
2. recovery: a 1,000-step chain killed with SIGKILL at step 500 in a child process,
   then the time from calling ``resume`` to completion of the remaining work.

Usage: .venv/bin/python benchmarks/durable.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import print_table, router_chain, timed

from soe import create_all_nodes, orchestrate, resume
from soe.backends.sqlite import create_sqlite_backends


def chain_ms_per_step(length: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "soe.db"
        backends = create_sqlite_backends(db)
        _, broadcast = create_all_nodes(backends)
        config = router_chain(length)
        seconds = timed(lambda: orchestrate(config, "chain", ["S0"], {}, backends, broadcast, max_steps=length + 1))
        backends.close()
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return seconds * 1000 / length, size


def _killed_child(db: str, length: int, kill_at: int) -> None:
    """Run in a child process: start the chain and SIGKILL ourselves at step ``kill_at``."""
    backends = create_sqlite_backends(db)
    nodes, broadcast = create_all_nodes(backends)
    router = nodes["router"]
    count = {"n": 0}

    def counting(eid: str, cfg: dict) -> None:
        count["n"] += 1
        if count["n"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        router(eid, cfg)

    nodes["router"] = counting
    orchestrate(router_chain(length), "chain", ["S0"], {}, backends, broadcast, execution_id="recover",
                max_steps=length + 1)


def recovery_seconds(length: int, kill_at: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "soe.db")
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"import durable; durable._killed_child({db!r}, {length}, {kill_at})")
        killed = subprocess.run([sys.executable, "-c", code], capture_output=True)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        backends = create_sqlite_backends(db)
        _, broadcast = create_all_nodes(backends)
        start = time.perf_counter()
        resume("recover", backends, broadcast)
        seconds = time.perf_counter() - start
        nodes = backends.context.get_context("recover")["__operational__"]["nodes"]
        backends.close()
    return seconds, len(nodes)


def main() -> None:
    rows = []
    for n in (200, 2_000):
        per_step, size = chain_ms_per_step(n)
        rows.append([f"router chain N={n}", f"{per_step:.3f} ms/step", f"{size / n / 1024:.1f} KiB/step on disk"])
    seconds, ran = recovery_seconds(1_000, 500)
    rows.append(["recovery: 1,000-step chain killed at step 500",
                 f"{seconds * 1000:.0f} ms to finish", f"{ran} nodes ran in total"])
    print_table("SOE durable execution (SQLite store, WAL, every step committed)", ["measure", "value", "note"], rows)


if __name__ == "__main__":
    main()
