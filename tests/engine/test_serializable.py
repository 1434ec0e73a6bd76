"""Concurrent runs are serializable: they equal the sequential run with the same completion order.

SPEC §15 "Concurrency": only waits overlap; every transition is applied
atomically, one at a time, and what a completion causes without waiting runs
before the next completion is applied — so a join fires exactly once.
"""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from conftest import run

from soe.backends.sqlite import create_sqlite_backends
from soe.local_backends import create_in_memory_backends

RUNS = {2: 16, 4: 16, 16: 12, 64: 8}  # x 2 latency modes x 2 backends = 208 runs


def join_config(k: int, branch_order: list[int] | None = None) -> dict:
    """K LLM branches on START, a router that emits JOINED once all K outputs exist, a final tool."""
    order = branch_order if branch_order is not None else list(range(k))
    branches = {f"B{i}": {"node_type": "llm", "event_triggers": ["START"], "prompt": f"branch {i}",
                          "output_field": f"r{i}", "event_emissions": [{"signal_name": "DONE"}]}
                for i in order}
    all_in = " and ".join(f"context.r{i} is defined" for i in range(k))
    return {"join": {
        **branches,
        "Join": {"node_type": "router", "event_triggers": ["DONE"],
                 "event_emissions": [{"signal_name": "JOINED", "condition": f"{{{{ {all_in} }}}}"}]},
        "Merge": {"node_type": "tool", "tool_name": "merge", "event_triggers": ["JOINED"],
                  "parameters": {"n": "{{ context.__operational__.llm_calls }}"}, "output_field": "merged"},
    }}


class BranchLLM:
    """Answers ``branch i`` after a latency; records the order in which calls complete."""

    def __init__(self, latencies: dict[int, float]):
        self.latencies = latencies
        self.completed: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, messages, response_model):
        prompt = json.loads(messages[0]["content"].split("\n\n", 1)[0])["prompt"]
        branch = int(prompt.split()[1])
        time.sleep(self.latencies.get(branch, 0))
        with self._lock:
            self.completed.append(branch)
        field = next(iter(response_model.model_fields))
        return json.dumps({field: f"answer {branch}"})


def make_backends(kind: str, tmp_path, n: int):
    if kind == "memory":
        return create_in_memory_backends()
    return create_sqlite_backends(tmp_path / f"join-{n}.db")


def recorder(calls: list[str]):
    """A merge tool that records each call in ``calls``."""
    def merge(n):
        calls.append(n)
        return n
    return merge


def cases():
    rng = random.Random(20261204)
    for k, runs in RUNS.items():
        for latency in ("zero", "random"):
            for kind in ("memory", "sqlite"):
                seeds = [rng.randrange(10**9) for _ in range(runs)]
                yield pytest.param(k, latency, kind, seeds, id=f"K{k}-{latency}-{kind}")


@pytest.mark.parametrize("k, latency, kind, seeds", list(cases()))
@pytest.mark.slow
def test_a_join_fires_once_and_equals_the_sequential_run(tmp_path, k, latency, kind, seeds):
    for n, seed in enumerate(seeds):
        rng = random.Random(seed)
        latencies = {i: (rng.uniform(0, 0.004) if latency == "random" else 0.0) for i in range(k)}
        merges: list[str] = []
        llm = BranchLLM(latencies)
        backends = make_backends(kind, tmp_path, n)
        eid = run(join_config(k), backends, call_llm=llm, tools={"merge": recorder(merges)},
                  max_concurrency=k, execution_id="join")
        concurrent = backends.context.get_context(eid)
        assert concurrent["__operational__"]["signals"].count("JOINED") == 1
        assert len(merges) == 1

        # The same workflow run sequentially, its branches declared in the order the calls completed.
        reference = create_in_memory_backends()
        ref_merges: list[str] = []
        ref_id = run(join_config(k, llm.completed), reference, call_llm=BranchLLM({}),
                     tools={"merge": recorder(ref_merges)}, execution_id="join")
        assert concurrent == reference.context.get_context(ref_id)
        assert merges == ref_merges
