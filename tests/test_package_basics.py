"""Basics a Python user expects: a version, type information, real signatures, a quiet logger."""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import logging
import re
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


ROOT = Path(__file__).resolve().parents[1]
_PIP_INSTALL = re.compile(r"pip install (?P<target>[^\s#`]+)")
_FENCED = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)


def _install_targets(text: str) -> list[str]:
    return [match.group("target").strip("\"'") for match in _PIP_INSTALL.finditer(text)]


def test_install_instructions_install_this_version_not_the_index_release():
    """``pip install soe-ai`` from the index gets 0.1.4; every instruction names a checkout or a wheel."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install ".[cli]"' in readme
    assert "pip wheel --no-deps -w dist ." in readme
    assert f"dist/soe_ai-{soe.__version__}-py3-none-any.whl[cli]" in readme
    pages = [readme, *(p.read_text(encoding="utf-8") for p in (ROOT / "docs_src").rglob("*.md"))]
    texts = [block for page in pages for block in _FENCED.findall(page)]  # what a reader copies
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "soe").rglob("*.py")]  # what soe prints
    for target in (t for text in texts for t in _install_targets(text)):
        assert not target.startswith("soe-ai"), target
