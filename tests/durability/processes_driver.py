"""Runs executions on a shared store from one of several processes started together.

usage: processes_driver.py STORE TAG COUNT EFFECTS

Runs COUNT executions ``TAG-0`` … of a ten-step tool loop on four threads.
Every tool call appends ``TAG-i:n`` to EFFECTS and one entry to the
conversation history ``shared``, which every process writes at the same time.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from _stores import open_backends

from soe import create_all_nodes, orchestrate

LOOP = {"wf": {
    "Count": {"node_type": "tool", "tool_name": "inc", "event_triggers": ["START", "AGAIN"],
              "parameters": {"n": "{{ context.n }}", "who": "{{ context.who }}"}, "output_field": "n",
              "event_emissions": [{"signal_name": "CHECK"}]},
    "Check": {"node_type": "router", "event_triggers": ["CHECK"], "event_emissions": [
        {"signal_name": "AGAIN", "condition": "{{ context.n | int < 10 }}"}]},
}}


def main() -> None:
    store, tag, count, effects_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    backends = open_backends(store)
    history = backends.conversation_history

    def inc(n: str, who: str) -> int:
        with open(effects_file, "a", encoding="utf-8") as f:
            f.write(f"{who}:{n}\n")
        history.append_to_conversation_history("shared", {"role": "tool", "content": f"{who}:{n}"})
        return int(n) + 1

    _, broadcast = create_all_nodes(backends, tools_registry={"inc": inc})

    def one(i: int) -> str:
        return orchestrate(LOOP, "wf", ["START"], {"n": 0, "who": f"{tag}-{i}"}, backends, broadcast,
                           execution_id=f"{tag}-{i}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(count)))
    backends.close()


if __name__ == "__main__":
    main()
