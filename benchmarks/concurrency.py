"""Fan-out of K LLM calls that each take 0.1 s, then a join, with max_concurrency = K.

Prints wall time / 0.1 s (1.0 would be perfect overlap) and how often the join fired
(serializable runs fire it exactly once).
Usage: .venv/bin/python benchmarks/concurrency.py [K ...]
"""

from __future__ import annotations

import statistics
import sys
import time

from _common import print_table, timed

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends

LATENCY = 0.1
CONFIG = {
    "parent": {
        "Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "ask",
                "child_initial_signals": ["START"], "fan_out_field": "questions", "child_input_field": "question",
                "context_updates_to_parent": ["answer"], "signals_to_parent": ["ANSWERED"]},
        "Join": {"node_type": "router", "event_triggers": ["ANSWERED"], "event_emissions": [{
            "signal_name": "JOINED",
            "condition": "{{ (context.answer | accumulated | length) == (context.questions | length) }}"}]},
    },
    "ask": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "Answer {{ context.question }}",
                    "output_field": "answer", "event_emissions": [{"signal_name": "ANSWERED"}]}},
}


def slow_llm(messages: list[dict], response_model: type) -> str:
    time.sleep(LATENCY)
    return '{"answer": "42"}'


def run(k: int) -> tuple[float, int]:
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=slow_llm)
    seconds = timed(lambda: orchestrate(CONFIG, "parent", ["START"], {"questions": list(range(k))}, backends,
                                        broadcast, max_concurrency=k, execution_id="fan"))
    context = backends.context.get_context("fan")
    assert len(context["answer"]) == k
    return seconds, context["__operational__"]["signals"].count("JOINED")


def main() -> None:
    sizes = [int(x) for x in sys.argv[1:]] or [4, 16, 64]
    rows = []
    for k in sizes:
        runs = [run(k) for _ in range(5)]
        samples = [seconds for seconds, _ in runs]
        joins = sorted({count for _, count in runs})
        best, median = min(samples), statistics.median(samples)
        rows.append([k, f"{median:.3f}", f"{median / LATENCY:.2f}", f"{best / LATENCY:.2f}",
                     "/".join(map(str, joins))])
    print_table("SOE concurrent fan-out + join (K LLM calls of 0.1 s, max_concurrency = K, in-memory; 5 runs)",
                ["K", "median wall s", "median wall/latency", "best wall/latency", "joins per run"], rows)


if __name__ == "__main__":
    main()
