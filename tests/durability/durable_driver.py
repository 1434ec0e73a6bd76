"""A workflow run in a child process that the durability tests kill with SIGKILL.

usage: durable_driver.py run|resume STORE SIDE_EFFECTS [KILL_MODE KILL_AT]

Tools and the LLM append one line per call to SIDE_EFFECTS, so the test can
check that every completed activation's effect happened exactly once. KILL_MODE
``step`` kills at the start of the KILL_AT-th activation; ``journal`` kills just
after the KILL_AT-th journaled call was recorded, before its activation commits.

STORE is a SQLite file path or a postgresql:// URL.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from _stores import open_backends

from soe import create_all_nodes, orchestrate, resume

EXECUTION_ID = "durable-root"

CONFIG = {
    "main": {
        "Prepare": {"node_type": "tool", "tool_name": "record", "event_triggers": ["START"],
                    "parameters": {"what": "prepare"}, "output_field": "prepared",
                    "event_emissions": [{"signal_name": "PREPARED"}]},
        "Plan": {"node_type": "llm", "event_triggers": ["PREPARED"], "prompt": "Plan for {{ context.topic }}",
                 "output_field": "plan", "event_emissions": [{"signal_name": "PLANNED"}]},
        "FanOut": {"node_type": "child", "event_triggers": ["PLANNED"], "child_workflow_name": "worker",
                   "child_initial_signals": ["START"], "fan_out_field": "items", "child_input_field": "item",
                   "signals_to_parent": ["WORKED"], "context_updates_to_parent": ["result"]},
        "Tally": {"node_type": "router", "event_triggers": ["WORKED"], "event_emissions": [
            {"signal_name": "ALL_WORKED", "condition": "{{ context.result | accumulated | length == 4 }}"}]},
        "Summarise": {"node_type": "llm", "event_triggers": ["ALL_WORKED"],
                      "prompt": "Summarise {{ context.result | accumulated | join(',') }}",
                      "output_field": "summary", "event_emissions": [{"signal_name": "SUMMARISED"}]},
        "Finish": {"node_type": "tool", "tool_name": "record", "event_triggers": ["SUMMARISED"],
                   "parameters": {"what": "finish {{ context.summary }}"}, "output_field": "finished"},
    },
    "worker": {
        "Double": {"node_type": "tool", "tool_name": "double", "event_triggers": ["START"],
                   "parameters": {"item": "{{ context.item }}"}, "output_field": "doubled",
                   "event_emissions": [{"signal_name": "DOUBLED"}]},
        "Describe": {"node_type": "llm", "event_triggers": ["DOUBLED"], "prompt": "Describe {{ context.doubled }}",
                     "output_field": "result", "event_emissions": [{"signal_name": "WORKED"}]},
    },
}


def main() -> None:
    mode, db, side_file = sys.argv[1:4]
    kill_mode, kill_at = (sys.argv[4], int(sys.argv[5])) if len(sys.argv) > 5 else (None, 0)

    def effect(line: str) -> None:
        with open(side_file, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def record(what: str) -> str:
        effect(f"tool:record:{what}")
        return what

    def double(item: str) -> int:
        effect(f"tool:double:{item}")
        return int(item) * 2

    def call_llm(messages: list[dict], response_model: type) -> str:
        prompt = json.loads(messages[0]["content"].split("\n\n", 1)[0])["prompt"]
        effect(f"llm:{prompt}")
        field = next(iter(response_model.model_fields))
        return json.dumps({field: f"<{prompt}>"})

    backends = open_backends(db)
    nodes, broadcast = create_all_nodes(backends, call_llm=call_llm,
                                        tools_registry={"record": record, "double": double})
    if kill_mode == "step":
        counter = {"n": 0}
        for node_type, caller in list(nodes.items()):
            def counted(eid: str, cfg: dict, caller=caller) -> None:
                counter["n"] += 1
                if counter["n"] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                caller(eid, cfg)
            nodes[node_type] = counted
    elif kill_mode == "journal":
        put = backends.runtime.journal_put
        counter = {"n": 0}

        def put_then_die(key: str, value: object) -> None:
            put(key, value)
            counter["n"] += 1
            if counter["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        backends.runtime.journal_put = put_then_die
    if mode == "run":
        orchestrate(CONFIG, "main", ["START"], {"topic": "durability", "items": [1, 2, 3, 4]}, backends,
                    broadcast, execution_id=EXECUTION_ID)
    else:
        resume(EXECUTION_ID, backends, broadcast)
    print(json.dumps(backends.context.get_context(EXECUTION_ID)))


if __name__ == "__main__":
    main()
