"""Fan-out of P child workflows (each three nodes) with results sent to the parent.

Usage: .venv/bin/python benchmarks/fanout.py [P ...]
"""

from __future__ import annotations

import statistics
import sys

from _common import print_table, timed

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends


def config() -> dict:
    return {
        "parent": {
            "FanOut": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "worker",
                       "child_initial_signals": ["START"], "fan_out_field": "items",
                       "child_input_field": "item", "signals_to_parent": ["WORKER_DONE"],
                       "context_updates_to_parent": ["result"]},
            "Collect": {"node_type": "router", "event_triggers": ["WORKER_DONE"], "event_emissions": [
                {"signal_name": "ALL_DONE", "condition": "{{ context.result | accumulated | length == context.expected }}"}]},
        },
        "worker": {
            "Check": {"node_type": "router", "event_triggers": ["START"],
                      "event_emissions": [{"signal_name": "WORK", "condition": "{{ context.item is number }}"}]},
            "Double": {"node_type": "tool", "tool_name": "double", "event_triggers": ["WORK"],
                       "parameters": {"x": "{{ context.item }}"}, "output_field": "result",
                       "event_emissions": [{"signal_name": "DOUBLED"}]},
            "Report": {"node_type": "router", "event_triggers": ["DOUBLED"],
                       "event_emissions": [{"signal_name": "WORKER_DONE"}]},
        },
    }


def run(p: int) -> float:
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, tools_registry={"double": lambda x: int(x) * 2})
    cfg = config()
    seconds = timed(lambda: orchestrate(cfg, "parent", ["START"], {"items": list(range(p)), "expected": p},
                                        backends, broadcast, execution_id="fanout"))
    ctx = backends.context.get_context("fanout")
    assert sorted(ctx["result"]) == [2 * i for i in range(p)]
    assert ctx["__operational__"]["signals"][-1] == "ALL_DONE"
    return seconds


def main() -> None:
    sizes = [int(x) for x in sys.argv[1:]] or [100]
    rows = []
    for p in sizes:
        samples = [run(p) for _ in range(5)]
        rows.append([p, f"{statistics.median(samples) * 1000:.1f}", f"{min(samples) * 1000:.1f}"])
    print_table("SOE fan-out (P children x 3 nodes, in-memory, sequential; 5 runs)",
                ["P", "median ms", "best ms"], rows)


if __name__ == "__main__":
    main()
