"""The seed README's Quick Start, run as a user would: a fresh process in an empty directory.

The two code blocks below are copied verbatim from the seed README ("1. Provide Your LLM" and
"2. Run a Workflow"). The only change is the body of ``call_llm``, replaced by a deterministic
offline return (no network, no API key). The README's ``call_llm`` annotates its return as
``str | BaseModel`` without importing ``BaseModel``; the script therefore starts with that import,
which is what anyone pasting the block has to add.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PREAMBLE = "from pydantic import BaseModel  # used by the README's call_llm annotation\n"

# --- README "1. Provide Your LLM", signature verbatim, body replaced -----------------------------
MESSAGES_FORM = '''
def call_llm(
    messages: list[dict],           # [{"role": "user", "content": "..."}]
    response_model: type | None,    # Optional Pydantic model for structured output
) -> str | BaseModel:
    """Your LLM integration. Use OpenAI, Anthropic, local models, etc."""
{body}
'''

# The compatibility form of SPEC §7.1 (prompt, config), same docstring and body slot.
PROMPT_FORM = '''
def call_llm(prompt: str, config: dict) -> str:
    """Your LLM integration. Use OpenAI, Anthropic, local models, etc."""
{body}
'''

# --- README "2. Run a Workflow", verbatim ------------------------------------------------------------
RUN_A_WORKFLOW = '''
from soe import orchestrate, create_all_nodes
from soe.local_backends import create_local_backends

# Your workflow (can also be loaded from file or database)
workflow = """
example_workflow:
  Start:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: DONE
"""

# Create backends (storage for context, workflows, etc.)
backends = create_local_backends("./data")

# Create all node handlers (pass your call_llm function)
nodes, broadcast = create_all_nodes(backends, call_llm=call_llm)

# Run the workflow
execution_id = orchestrate(
    config=workflow,
    initial_workflow_name="example_workflow",
    initial_signals=["START"],
    initial_context={"user": "alice"},
    backends=backends,
    broadcast_signals_caller=broadcast,
)
# When orchestrate() returns, the workflow is complete
'''

# Printed after the README code so the test can find the execution's files.
EPILOGUE = "\nprint(execution_id)\n"

# The same workflow plus one LLM node, to show that call_llm really is called.
LLM_NODE = '''      - signal_name: DONE

  Answer:
    node_type: llm
    event_triggers: [DONE]
    prompt: "Say hi to {{ context.user }}"
    output_field: reply
    event_emissions:
      - signal_name: ANSWERED
'''

OFFLINE_BODY = {
    "messages": '    return \'{"output": "offline"}\'',
    "prompt": '    return \'{"output": "offline"}\'',
}

RECORDING_BODY = {
    "messages": textwrap.indent(textwrap.dedent('''
        import json
        with open("llm_calls.jsonl", "a") as log:
            log.write(json.dumps({"form": "messages", "messages": messages,
                                  "model": response_model.__name__}) + "\\n")
        return '{"reply": "hi alice"}'
    ''').strip("\n"), "    "),
    "prompt": textwrap.indent(textwrap.dedent('''
        import json
        with open("llm_calls.jsonl", "a") as log:
            log.write(json.dumps({"form": "prompt", "prompt": prompt, "node": config.get("name")}) + "\\n")
        return '{"reply": "hi alice"}'
    ''').strip("\n"), "    "),
}


def _script(form: str, body: str, *, with_llm_node: bool = False) -> str:
    definition = (MESSAGES_FORM if form == "messages" else PROMPT_FORM).replace("{body}", body)
    run_block = RUN_A_WORKFLOW
    if with_llm_node:
        run_block = run_block.replace("      - signal_name: DONE\n", LLM_NODE, 1)
        assert run_block != RUN_A_WORKFLOW
    return PREAMBLE + definition + run_block + EPILOGUE


def _run(tmp_path: Path, script: str) -> tuple[str, dict]:
    (tmp_path / "quickstart.py").write_text(script)
    done = subprocess.run([sys.executable, "quickstart.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    execution_id = done.stdout.strip().splitlines()[-1]
    path = tmp_path / "data" / "contexts" / f"{execution_id}.json"
    assert path.exists()
    return execution_id, json.loads(path.read_text())


def test_readme_blocks_are_unchanged_apart_from_the_body():
    """Guard against drifting from the README text: the run block has the README's exact calls."""
    assert 'backends = create_local_backends("./data")' in RUN_A_WORKFLOW
    assert "nodes, broadcast = create_all_nodes(backends, call_llm=call_llm)" in RUN_A_WORKFLOW
    assert MESSAGES_FORM.count("{body}") == 1


@pytest.mark.parametrize("form", ["messages", "prompt"])
def test_quickstart_runs_verbatim(tmp_path, form):
    execution_id, ctx = _run(tmp_path, _script(form, OFFLINE_BODY[form]))
    assert ctx["__operational__"]["signals"] == ["START", "DONE"]
    assert ctx["__operational__"]["main_execution_id"] == execution_id
    assert ctx["user"] == ["alice"]
    # the base-directory form created all six folders, telemetry included (Q24)
    data = tmp_path / "data"
    for folder in ("contexts", "workflows", "telemetry", "conversations", "schemas", "identities"):
        assert (data / folder).is_dir(), folder
    assert (data / "workflows" / f"{execution_id}_current.txt").read_text().strip() == "example_workflow"
    telemetry = (data / "telemetry" / f"{execution_id}.jsonl").read_text().splitlines()
    assert json.loads(telemetry[0])["event_type"] == "orchestration_start"


@pytest.mark.parametrize("form", ["messages", "prompt"])
def test_quickstart_with_an_llm_node_calls_the_llm(tmp_path, form):
    execution_id, ctx = _run(tmp_path, _script(form, RECORDING_BODY[form], with_llm_node=True))
    operational = ctx["__operational__"]
    assert operational["signals"] == ["START", "DONE", "ANSWERED"]
    assert operational["nodes"] == {"Start": 1, "Answer": 1}
    assert operational["llm_calls"] == 1
    assert ctx["reply"] == ["hi alice"]
    calls = [json.loads(line) for line in (tmp_path / "llm_calls.jsonl").read_text().splitlines()]
    assert len(calls) == 1
    call = calls[0]
    if form == "messages":
        assert call["model"] == "ReplyResponse"
        assert [m["role"] for m in call["messages"]] == ["user"]
        prompt = call["messages"][0]["content"]
    else:
        assert call["node"] == "Answer"
        prompt = call["prompt"]
    payload = json.loads(prompt.split("\n\n", 1)[0])
    assert payload["prompt"] == "Say hi to alice"
    assert json.loads(payload["context"]) == {"user": "alice"}
