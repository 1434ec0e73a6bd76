"""A concurrent workflow (fan-out, children, agents, a join) run in a child process and killed with SIGKILL.

usage: concurrent_driver.py run|resume|rerun STORE EFFECTS MAX_CONCURRENCY [KILL_MODE KILL_AT]

Every LLM and tool call appends one line naming itself to EFFECTS before it
returns, so the test can count how often each side effect happened.
KILL_MODE ``call`` kills inside the KILL_AT-th call (its effect done, its
result not yet journaled: a call in flight); ``journal`` kills just after the
KILL_AT-th journal entry was recorded; ``event`` kills at the KILL_AT-th
telemetry event, which includes the events ``orchestrate`` writes while
preparing the execution. ``rerun`` starts the execution again under the same
id (what a user does when a crash inside ``orchestrate`` left no execution).

STORE is a SQLite file path or a postgresql:// URL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time

from _stores import open_backends

from soe import create_all_nodes, orchestrate, resume

EXECUTION_ID = "concurrent-root"
ITEMS = [1, 2, 3, 4, 5, 6]

CONFIG = {
    "main": {
        "Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "worker",
                "child_initial_signals": ["START"], "fan_out_field": "items", "child_input_field": "item",
                "signals_to_parent": ["WORKED"], "context_updates_to_parent": ["result"]},
        "Research": {"node_type": "agent", "event_triggers": ["START"], "prompt": "Research {{ context.topic }}",
                     "tools": ["lookup"], "output_field": "research", "event_emissions": [{"signal_name": "WORKED"}]},
        "Opinion": {"node_type": "llm", "event_triggers": ["START"], "prompt": "Opinion on {{ context.topic }}",
                    "output_field": "opinion", "event_emissions": [{"signal_name": "WORKED"}]},
        "Join": {"node_type": "router", "event_triggers": ["WORKED"], "event_emissions": [{
            "signal_name": "ALL_DONE",
            "condition": "{{ (context.result | accumulated | length) == 6 and context.research is defined "
                         "and context.opinion is defined }}"}]},
        "Summarise": {"node_type": "llm", "event_triggers": ["ALL_DONE"],
                      "prompt": "Summarise {{ context.result | accumulated | sort | join(',') }}",
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
    mode, db, effects_file, concurrency = sys.argv[1:5]
    kill_mode, kill_at = (sys.argv[5], int(sys.argv[6])) if len(sys.argv) > 6 else (None, 0)
    counter = {"calls": 0, "journal": 0, "events": 0}
    lock = threading.Lock()
    jitter = random.Random(os.getpid())

    def maybe_die(kind: str) -> None:
        with lock:
            counter[kind] += 1
            if kill_mode == {"calls": "call", "journal": "journal", "events": "event"}[kind] \
                    and counter[kind] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    def effect(line: str) -> None:
        time.sleep(jitter.uniform(0, 0.003))  # let calls overlap and finish in varied orders
        with lock, open(effects_file, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        maybe_die("calls")

    def record(what: str) -> str:
        effect(f"tool:record:{what}")
        return what

    def double(item: str) -> int:
        effect(f"tool:double:{item}")
        return int(item) * 2

    def lookup(key: str) -> str:
        effect(f"tool:lookup:{key}")
        return f"facts about {key}"

    def call_llm(messages: list[dict], response_model: type) -> str:
        payload = json.loads(messages[0]["content"].split("\n\n", 1)[0])
        fields = set(response_model.model_fields)
        if fields == {"action", "tool_name"}:  # agent router stage: one lookup, then finish
            done = "[Tool: lookup]" in payload.get("conversation_history", "")
            effect(f"llm:agent-router:{done}")
            return json.dumps({"action": "finish" if done else "call_tool", "tool_name": "lookup"})
        if "key" in fields:  # agent parameter stage
            effect("llm:agent-parameters")
            return json.dumps({"key": "soe"})
        prompt = payload.get("prompt") or payload.get("task_description")
        effect(f"llm:{prompt}")
        return json.dumps({next(iter(fields)): f"<{prompt}>"})

    backends = open_backends(db)
    put = backends.runtime.journal_put

    def put_then_maybe_die(key: str, value: object) -> None:
        put(key, value)
        maybe_die("journal")

    backends.runtime.journal_put = put_then_maybe_die
    log_event = backends.telemetry.log_event

    def log_then_maybe_die(execution_id: str, event_type: str, **data: object) -> None:
        log_event(execution_id, event_type, **data)
        maybe_die("events")

    backends.telemetry.log_event = log_then_maybe_die
    _, broadcast = create_all_nodes(backends, call_llm=call_llm,
                                    tools_registry={"record": record, "double": double, "lookup": lookup})
    if mode in ("run", "rerun"):
        orchestrate(CONFIG, "main", ["START"], {"topic": "durability", "items": ITEMS}, backends, broadcast,
                    execution_id=EXECUTION_ID, max_concurrency=int(concurrency))
    else:
        resume(EXECUTION_ID, backends, broadcast)
    print(json.dumps(backends.context.get_context(EXECUTION_ID)))


if __name__ == "__main__":
    main()
