"""Raw errors become one-line messages with exit 2; read-only stores can be inspected (issue 13, items 8, 9)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soe import create_all_nodes, orchestrate
from soe.backends.sqlite import create_sqlite_backends
from soe.local_backends import create_in_memory_backends

runner = CliRunner()

WORKFLOW = """\
wf:
  A:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: DONE}]
"""


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable, for root too (``chattr +i``); skip where that is impossible."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make {path} read-only as root: chattr +i failed ({made.stderr.decode().strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def invoke(*args: str):
    from soe.cli.app import app

    return runner.invoke(app, list(args))


def assert_one_line_bad_input(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert text in lines[0]


@pytest.fixture
def workflow(tmp_path) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(WORKFLOW)
    return path


def test_store_that_is_not_a_database(tmp_path, workflow):
    (tmp_path / "notes.txt").write_text("hello\n")
    result = invoke("run", str(workflow), "--store", f"sqlite:{tmp_path / 'notes.txt'}")
    assert_one_line_bad_input(result, "file is not a database")
    result = invoke("inspect", "x", "--store", f"sqlite:{tmp_path / 'notes.txt'}")
    assert_one_line_bad_input(result, "file is not a database")


def test_store_that_is_a_directory(tmp_path, workflow):
    (tmp_path / "adir").mkdir()
    result = invoke("run", str(workflow), "--store", f"sqlite:{tmp_path / 'adir'}")
    assert_one_line_bad_input(result, "unable to open database file")


def test_unknown_store_scheme_is_refused_and_creates_nothing(tmp_path, workflow, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", str(workflow), "--store", "redis://localhost:6379/0")
    assert_one_line_bad_input(result, "Unknown --store scheme 'redis:'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.yaml"]


def test_tools_file_with_a_syntax_error(tmp_path, workflow):
    (tmp_path / "tools.py").write_text("def broken(:\n")
    result = invoke("run", str(workflow), "--store", "memory", "--tools", f"{tmp_path / 'tools.py'}:TOOLS")
    assert_one_line_bad_input(result, "Cannot load --tools")


def test_tools_module_failing_at_import(tmp_path, workflow):
    (tmp_path / "tools.py").write_text("raise RuntimeError('no network here')\n")
    result = invoke("run", str(workflow), "--store", "memory", "--tools", f"{tmp_path / 'tools.py'}:TOOLS")
    assert_one_line_bad_input(result, "importing it failed: no network here")


def test_deeply_nested_yaml_config(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("wf: " + "[" * 5000 + "]" * 5000 + "\n")
    result = invoke("run", str(path), "--store", "memory")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "nest" in result.stderr
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_read_only_store_is_refused_before_running(tmp_path, workflow):
    db = tmp_path / "s.db"
    create_sqlite_backends(db).check()
    with read_only(db):
        result = invoke("run", str(workflow), "--store", f"sqlite:{db}")
    assert_one_line_bad_input(result, "attempt to write a readonly database")


def test_store_in_a_read_only_directory_can_be_inspected(tmp_path):
    folder = tmp_path / "store"
    backends = create_sqlite_backends(folder / "s.db")
    _, broadcast = create_all_nodes(backends)
    eid = orchestrate(config=WORKFLOW, initial_workflow_name="wf", initial_signals=["START"], initial_context={},
                      backends=backends, broadcast_signals_caller=broadcast)
    backends.close()
    assert sorted(p.name for p in folder.iterdir()) == ["s.db"]
    with read_only(folder):
        result = invoke("inspect", eid, "--store", f"sqlite:{folder / 's.db'}", "--json")
    assert result.exit_code == 0, result.output
    assert '"status": "completed"' in result.output


@pytest.mark.parametrize("bad, error, message", [
    ("", ValueError, "Invalid id '': must not be empty, blank or '.'"),
    (".", ValueError, "Invalid id '.': must not be empty, blank or '.'"),
    (42, TypeError, "Invalid id 42: ids must be strings, got int"),
])
def test_unusable_execution_ids_are_refused(bad, error, message):
    from soe import resume

    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends)
    with pytest.raises(error) as info:
        orchestrate(config=WORKFLOW, initial_workflow_name="wf", initial_signals=["START"], initial_context={},
                    backends=backends, broadcast_signals_caller=broadcast, execution_id=bad)
    assert str(info.value) == message
    with pytest.raises(error, match="^Invalid id"):
        broadcast(bad, ["GO"])
    with pytest.raises(error, match="^Invalid id"):
        resume(bad, backends, broadcast)
