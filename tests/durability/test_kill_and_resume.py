"""Kill -9 at many points, resume in a new process, and get the uninterrupted result (SPEC §15)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # one subprocess killed and resumed per case

DRIVER = Path(__file__).with_name("durable_driver.py")
ACTIVATIONS = 17  # Prepare, Plan, FanOut, 4 x (Double, Describe), 4 x Tally, Summarise, Finish
JOURNALED_CALLS = 12  # 2 record + 2 LLM + 4 double + 4 describe


def drive(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DRIVER), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its final context and its side effects."""
    tmp = tmp_path_factory.mktemp("reference")
    done = drive("run", tmp / "soe.db", tmp / "effects.log")
    assert done.returncode == 0, done.stderr
    effects = (tmp / "effects.log").read_text().splitlines()
    assert len(effects) == JOURNALED_CALLS and len(set(effects)) == JOURNALED_CALLS
    return json.loads(done.stdout), effects


def kill_points() -> list[tuple[str, int]]:
    rng = random.Random(20261125)
    steps = rng.sample(range(1, ACTIVATIONS + 1), 16)
    journal = rng.sample(range(1, JOURNALED_CALLS + 1), 12)
    extra = [("step", rng.randint(1, ACTIVATIONS)) for _ in range(4)]
    return [("step", n) for n in steps] + [("journal", n) for n in journal] + extra


def cases() -> list[tuple[str, str, int]]:
    """Every kill point on SQLite; a seeded handful of them on PostgreSQL (each case is two processes)."""
    points = kill_points()
    on_postgres = random.Random(20261205).sample(points, 6)
    return [("sqlite", *point) for point in points] + [("postgres", *point) for point in on_postgres]


@pytest.mark.parametrize("store_kind, kill_mode, kill_at", cases())
def test_killed_run_resumes_to_the_uninterrupted_result(request, tmp_path, reference, store_kind,
                                                        kill_mode, kill_at):
    """The reference ran on SQLite: a PostgreSQL run must end in the very same context."""
    expected_context, expected_effects = reference
    db = request.getfixturevalue("postgres_url") if store_kind == "postgres" else tmp_path / "soe.db"
    effects = tmp_path / "effects.log"
    killed = drive("run", db, effects, kill_mode, kill_at)
    assert killed.returncode == -9, killed.stderr
    resumed = drive("resume", db, effects)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == expected_context
    counts = Counter(effects.read_text().splitlines())
    assert set(counts) == set(expected_effects)
    assert all(n == 1 for n in counts.values()), counts
