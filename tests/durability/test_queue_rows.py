"""A tree's queue as keyed rows (issue 13, item 4): a transition writes what it changed, crashes still resume.

Before, every transition rewrote the whole pending queue into the tree's
state, so a fan-out of N children wrote O(N²) bytes. The first test measures
what the runner writes (SQLite's statement trace, not a clock); the others
kill a large fan-out whose pending spawns and in-flight calls live in rows,
and resume it in a new process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from soe import create_all_nodes, orchestrate
from soe.backends.sqlite import create_sqlite_backends

DRIVER = Path(__file__).with_name("rows_driver.py")
CHILDREN = 40
FAN_OUT = {
    "parent": {"Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "worker",
                       "child_initial_signals": ["GO"], "fan_out_field": "items", "child_input_field": "item"}},
    "worker": {"Done": {"node_type": "router", "event_triggers": ["GO"],
                        "event_emissions": [{"signal_name": "DONE"}]}},
}
_RUNNER_TABLES = ("INTO trees", "INTO tree_queue", "FROM tree_queue", "INTO tree_tasks", "FROM tree_tasks")


def _runner_writes(tmp_path: Path, children: int) -> list[str]:
    """Every statement the runner used to store its own state during a fan-out of ``children``."""
    backends = create_sqlite_backends(tmp_path / f"fan{children}.db")
    statements: list[str] = []
    backends._db.connection().set_trace_callback(statements.append)  # max_concurrency 1: one thread
    _, broadcast = create_all_nodes(backends)
    orchestrate(FAN_OUT, "parent", ["START"], {"items": list(range(children))}, backends, broadcast,
                execution_id="fan")
    backends.close()
    return [sql for sql in statements if any(table in sql for table in _RUNNER_TABLES)]


def test_a_transition_writes_what_it_changed_not_the_whole_queue(tmp_path):
    small, large = _runner_writes(tmp_path, 50), _runner_writes(tmp_path, 400)
    # the largest single write of the tree's state does not grow with the queue
    assert max(map(len, large)) < 2 * max(len(sql) for sql in small if "INTO trees" in sql)
    # statements and bytes grow linearly: 8x the children, about 8x the writes (quadratic would be 64x)
    assert len(large) < 10 * len(small)
    assert sum(map(len, large)) < 10 * sum(map(len, small))


def drive(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DRIVER), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rows_reference")
    done = drive("run", tmp / "soe.db", tmp / "effects.log", 1)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


CASES = [("sqlite", 1, 3), ("sqlite", 1, 25), ("sqlite", 1, 40), ("sqlite", 4, 2), ("sqlite", 4, 21),
         ("sqlite", 4, 39), ("postgres", 1, 25), ("postgres", 4, 21)]


@pytest.mark.parametrize("store_kind, concurrency, kill_at", CASES)
def test_a_killed_large_fan_out_resumes_from_its_rows(request, tmp_path, reference, store_kind, concurrency,
                                                      kill_at):
    db = request.getfixturevalue("postgres_url") if store_kind == "postgres" else tmp_path / "soe.db"
    effects = tmp_path / "effects.log"
    killed = drive("run", db, effects, concurrency, kill_at)
    assert killed.returncode == -9, killed.stderr
    resumed = drive("resume", db, effects, concurrency)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == reference
    counts = Counter(effects.read_text().splitlines())
    assert set(counts) == {f"double:{item}" for item in range(CHILDREN)}
    # only the calls in flight at the kill ran twice
    assert sum(n - 1 for n in counts.values()) <= concurrency, counts
