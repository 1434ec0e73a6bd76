"""A fan-out large enough that the runner keeps most of its queue in keyed rows, killed with SIGKILL.

usage: rows_driver.py run|resume STORE SIDE_EFFECTS CONCURRENCY [KILL_AT]

Forty children each double their item with a journaled tool that appends one
line to SIDE_EFFECTS; the parent tallies the results. With KILL_AT the process
kills itself inside the KILL_AT-th tool call: sequentially the pending spawns
are rows then; with CONCURRENCY 4 the waiting calls are in-flight rows too.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from _stores import open_backends

from soe import create_all_nodes, orchestrate, resume

EXECUTION_ID = "rows-root"
CHILDREN = 40

CONFIG = {
    "main": {
        "FanOut": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "worker",
                   "child_initial_signals": ["START"], "fan_out_field": "items", "child_input_field": "item",
                   "signals_to_parent": ["WORKED"], "context_updates_to_parent": ["doubled"]},
        "Tally": {"node_type": "router", "event_triggers": ["WORKED"], "event_emissions": [
            {"signal_name": "ALL_WORKED", "condition": f"{{{{ context.doubled | accumulated | length == {CHILDREN} }}}}"}]},
    },
    "worker": {
        "Double": {"node_type": "tool", "tool_name": "double", "event_triggers": ["START"],
                   "parameters": {"item": "{{ context.item }}"}, "output_field": "doubled",
                   "event_emissions": [{"signal_name": "WORKED"}]},
    },
}


def main() -> None:
    mode, db, side_file, concurrency = sys.argv[1:5]
    kill_at = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    lock = threading.Lock()
    calls = {"n": 0}

    def double(item: int) -> int:
        with lock:
            calls["n"] += 1
            dying = calls["n"] == kill_at
            with open(side_file, "a", encoding="utf-8") as f:
                f.write(f"double:{item}\n")
        if dying:
            os.kill(os.getpid(), signal.SIGKILL)
        return int(item) * 2

    backends = open_backends(db)
    _, broadcast = create_all_nodes(backends, tools_registry={"double": double})
    if mode == "run":
        orchestrate(CONFIG, "main", ["START"], {"items": list(range(CHILDREN))}, backends, broadcast,
                    execution_id=EXECUTION_ID, max_concurrency=int(concurrency))
    else:
        resume(EXECUTION_ID, backends, broadcast)
    context = backends.context.get_context(EXECUTION_ID)
    print(json.dumps({"doubled": sorted(context["doubled"]), "signals": sorted(context["__operational__"]["signals"])}))


if __name__ == "__main__":
    main()
