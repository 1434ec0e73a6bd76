"""The engine's scenario tests end with the same contexts on Temporal as in process (``scenarios.py``).

Each covered module runs in a pytest subprocess with ``SOE_SCENARIOS_ON_TEMPORAL`` naming this
session's dev server: its tests make their own assertions in process, and each of their top-level
starts is also run through ``soe.temporal.Runner`` and compared.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.temporal.scenarios import ADDRESS, COVERED, REPORT, STORE

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", COVERED)
def test_scenarios_end_the_same_on_temporal(temporal_address, postgres_url, tmp_path, module):
    report = tmp_path / "report.jsonl"
    env = {**os.environ, ADDRESS: temporal_address, STORE: postgres_url, REPORT: str(report)}
    result = subprocess.run([sys.executable, "-m", "pytest", module, "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                             "--show-capture=no"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    counts: collections.Counter[str] = collections.Counter()
    different = []
    for line in report.read_text().splitlines() if report.exists() else []:
        entry = json.loads(line)
        counts.update(entry["counts"])
        different += [f"{entry['test']}: {mismatch[:3000]}" for mismatch in entry["mismatches"]]
    print(module, dict(counts))
    assert not different, "\n\n".join(different)
    assert result.returncode == 0, result.stdout[-5000:]
    assert counts["compared"] > 0, counts
