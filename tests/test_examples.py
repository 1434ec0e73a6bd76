"""The examples shipped in examples/ run offline and do what they say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_example_runs_router_and_llm(tmp_path, capsys):
    context = load("quickstart").main(str(tmp_path / "data"))
    assert context["result"] == ["processed: quarterly sales figures"]
    assert context["__operational__"]["signals"] == ["START", "VALID", "DONE"]
    assert (tmp_path / "data" / "contexts").is_dir()
    assert "finished" in capsys.readouterr().out
