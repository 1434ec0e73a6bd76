"""Basics a Python user expects: a version, type information, real signatures, a quiet logger."""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import logging
import subprocess
import sys
from pathlib import Path

import soe
from soe import aorchestrate, aresume, create_all_nodes, orchestrate, resume
from soe.local_backends import create_in_memory_backends

CONFIG = {"wf": {
    "Check": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [
        {"signal_name": "BIG", "condition": "{{ context.amount > 100 }}"}, {"signal_name": "DONE"}]},
}}


def test_version_is_the_installed_one():
    assert soe.__version__ == importlib.metadata.version("soe-ai")
    out = subprocess.run([sys.executable, "-m", "soe", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"soe {soe.__version__}"


def test_the_package_is_marked_typed():
    assert (Path(soe.__file__).parent / "py.typed").is_file()


def test_async_variants_have_the_real_signatures():
    assert list(inspect.signature(aorchestrate).parameters) == list(inspect.signature(orchestrate).parameters)
    for name, parameter in inspect.signature(orchestrate).parameters.items():
        mirrored = inspect.signature(aorchestrate).parameters[name]
        assert (mirrored.kind, mirrored.default) == (parameter.kind, parameter.default), name
    assert list(inspect.signature(aresume).parameters) == list(inspect.signature(resume).parameters)


def test_aorchestrate_passes_keyword_options_through():
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends)
    execution_id = asyncio.run(aorchestrate(CONFIG, "wf", ["START"], {"amount": 5}, backends, broadcast,
                                            execution_id="chosen-id", max_steps=10))
    assert execution_id == "chosen-id"


def run_once() -> str:
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends)
    return orchestrate(CONFIG, "wf", ["START"], {"amount": "500"}, backends, broadcast)


def test_the_soe_logger_is_silent_by_default():
    script = ("from tests.test_package_basics import run_once; run_once()")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout == "" and out.stderr == ""
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("soe").handlers)


def test_operators_get_starts_ends_and_warnings_in_logs(caplog):
    with caplog.at_level(logging.INFO, logger="soe"):
        execution_id = run_once()
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert ("soe.events", "INFO", f"{execution_id} orchestration_start {{'workflow_name': 'wf'}}") in records
    assert ("soe.status", "INFO", f"execution {execution_id} completed") in records
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.event_type == "condition_error" and warning.execution_id == execution_id
    assert not [r for r in caplog.records if r.levelname == "DEBUG"]  # DEBUG only when asked for
