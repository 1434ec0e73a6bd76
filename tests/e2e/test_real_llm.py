"""Opt-in: a small subset of ``benchmarks/real_llm.py`` against a real local model (SOE_REAL_LLM=1).

Start the model first (``../shared/real-llm/serve.sh start``; ``REAL_LLM_PORT``
or ``SOE_REAL_LLM_BASE_URL`` point elsewhere). Without ``SOE_REAL_LLM=1`` the
module is skipped, as CI does not have the model; with it, an unreachable
server fails the tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.real_llm

if os.environ.get("SOE_REAL_LLM") != "1":
    pytest.skip("real-model tests are opt-in: set SOE_REAL_LLM=1 with ../shared/real-llm/serve.sh running",
                allow_module_level=True)


def _benchmark() -> ModuleType:
    path = Path(__file__).parents[2] / "benchmarks" / "real_llm.py"
    spec = importlib.util.spec_from_file_location("real_llm_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _benchmark()
BASE_URL = os.environ.get("SOE_REAL_LLM_BASE_URL", BENCH.DEFAULT_BASE_URL)


@pytest.fixture(scope="module", autouse=True)
def _server_answers() -> None:
    with urllib.request.urlopen(f"{BASE_URL}/models", timeout=10) as response:  # fails loudly if down
        assert response.status == 200


@pytest.mark.parametrize("task", BENCH.TASKS, ids=[task.name for task in BENCH.TASKS])
def test_first_cases_of_each_task_are_answered_right_through_the_adapter(task) -> None:
    result = BENCH.run_task(task, task.cases[:2], BENCH.adapter_llm(BASE_URL))
    assert result.correct == result.total, result.misses
