"""Fan-out cost on the durable SQLite store: one parent starts N children (issue 13, item 4).

Every transition commits with the queue it leaves. Before queue rows were
keyed, each commit rewrote the whole pending queue, so N children cost O(N²);
now a transition writes only the items it added or took off the queue, and the
time per child should stay flat as N grows.

Usage: .venv/bin/python benchmarks/fanout_sqlite.py [N ...]   (default 500 1000 2000 4000)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import print_table, timed

from soe import create_all_nodes, orchestrate
from soe.backends.sqlite import create_sqlite_backends

CONFIG = {
    "parent": {"Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "worker",
                       "child_initial_signals": ["GO"], "fan_out_field": "items", "child_input_field": "item"}},
    "worker": {"Done": {"node_type": "router", "event_triggers": ["GO"],
                        "event_emissions": [{"signal_name": "DONE"}]}},
}


def fan_out_seconds(children: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        backends = create_sqlite_backends(Path(tmp) / "soe.db")
        _, broadcast = create_all_nodes(backends)
        seconds = timed(lambda: orchestrate(CONFIG, "parent", ["START"], {"items": list(range(children))},
                                            backends, broadcast, execution_id="fan"))
        backends.close()
    return seconds


def main() -> None:
    sizes = [int(x) for x in sys.argv[1:]] or [500, 1_000, 2_000, 4_000]
    rows = []
    for n in sizes:
        seconds = fan_out_seconds(n)
        rows.append([n, f"{seconds:.2f}", f"{seconds * 1000 / n:.2f}"])
    print_table("SOE fan-out on SQLite (N children x 1 node, sequential, every transition committed)",
                ["N", "seconds", "ms per child"], rows)


if __name__ == "__main__":
    main()
