"""Every example and the engine's scenarios end with the same contexts on Temporal as in process.

One parametrised suite: each case runs once with ``orchestrate`` on in-memory
backends and once with ``orchestrate(..., runner=soe.temporal.Runner(...))``
against a worker (same tools, same offline LLM) on a PostgreSQL store.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from soe import create_all_nodes, get_execution_status, orchestrate
from soe.llm.providers.spec import llm_from_spec
from soe.local_backends import create_in_memory_backends
from tests.temporal.support import ThreadWorker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _add(n: int = 0) -> int:
    return n + 1


def _count(n: int = 0) -> dict:
    return {"n": n + 1}


_FLAKY_CALLS: dict[str, int] = {}


def _flaky(tag: str) -> str:
    """Fails twice per tag, then answers: a tool node's ``max_retries`` at work."""
    _FLAKY_CALLS[tag] = _FLAKY_CALLS.get(tag, 0) + 1
    if _FLAKY_CALLS[tag] <= 2:
        raise ValueError(f"flaky {tag} attempt {_FLAKY_CALLS[tag]}")
    return f"ok {tag}"


def _broken(**_: Any) -> None:
    raise RuntimeError("always broken")


def _tools() -> dict[str, Any]:
    from examples.tools import TOOLS

    return {**TOOLS, "add": _add, "flaky": {"function": _flaky, "max_retries": 2}, "broken": _broken, "count": _count}


CHAIN = "chain:\n" + "".join(f"""
  Step{i}:
    node_type: tool
    event_triggers: [{'START' if i == 0 else f'S{i - 1}'}]
    tool_name: add
    context_parameter_field: {'seed' if i == 0 else f'p{i}'}
    output_field: p{i + 1}
    event_emissions: [{{signal_name: S{i}}}]
""" for i in range(10))

FAN_OUT_JOIN = """
fan:
  Split:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: A}, {signal_name: B}, {signal_name: C}]
  AskA:
    node_type: llm
    event_triggers: [A]
    prompt: "Branch A about {{ context.topic }}"
    output_field: a
    event_emissions: [{signal_name: A_DONE}]
  AskB:
    node_type: llm
    event_triggers: [B]
    prompt: "Branch B about {{ context.topic }}"
    output_field: b
    event_emissions: [{signal_name: B_DONE}]
  AskC:
    node_type: llm
    event_triggers: [C]
    prompt: "Branch C about {{ context.topic }}"
    output_field: c
    event_emissions: [{signal_name: C_DONE}]
  Join:
    node_type: router
    event_triggers: [A_DONE, B_DONE, C_DONE]
    event_emissions:
      - signal_name: JOINED
        condition: "{{ context.a is defined and context.b is defined and context.c is defined }}"
  AfterJoin:
    node_type: router
    event_triggers: [JOINED]
    event_emissions: [{signal_name: AFTER_JOIN}]
"""

RETRIES = """
retries:
  Flaky:
    node_type: tool
    event_triggers: [START]
    tool_name: flaky
    context_parameter_field: args
    output_field: answer
    event_emissions: [{signal_name: FLAKY_DONE}]
  Broken:
    node_type: tool
    event_triggers: [FLAKY_DONE]
    tool_name: broken
    output_field: broken_result
    event_emissions: [{signal_name: NEVER}]
"""

CHILD = """
parent:
  Spawn:
    node_type: child
    event_triggers: [START]
    child_workflow_name: kid
    child_initial_signals: [START]
    input_fields: [seed]
    signals_to_parent: [KID_DONE]
    context_updates_to_parent: [p1]
  After:
    node_type: router
    event_triggers: [KID_DONE]
    event_emissions: [{signal_name: PARENT_DONE}]
kid:
  Add:
    node_type: tool
    event_triggers: [START]
    tool_name: add
    context_parameter_field: seed
    output_field: p1
    event_emissions: [{signal_name: KID_DONE}]
"""

def load_quickstart_workflow() -> str:
    from examples.quickstart import WORKFLOW

    return WORKFLOW


# A loop of tool calls that only max_steps stops: the step budget is charged against the stored tree state.
STEP_BUDGET = """
limits: {max_steps: 7}
loop:
  Count:
    node_type: tool
    event_triggers: [START, AGAIN]
    tool_name: count
    context_parameter_field: seed
    output_field: seed
    event_emissions: [{signal_name: CHECK}]
  Check:
    node_type: router
    event_triggers: [CHECK]
    event_emissions: [{signal_name: AGAIN}]
"""

# (config, workflow, initial context, max_concurrency)
CASES: dict[str, tuple[str, str, dict[str, Any], int | None]] = {
    "example triage": ((EXAMPLES / "triage.yaml").read_text(), "triage",
                       {"ticket": "URGENT: checkout is down"}, None),
    "example summarize_schema": ((EXAMPLES / "summarize_schema.yaml").read_text(), "summarize", {"article": "SOE runs on Temporal."}, None),
    "example agent_tools": ((EXAMPLES / "agent_tools.yaml").read_text(), "text_report", {}, None),
    "example fan_out": ((EXAMPLES / "fan_out.yaml").read_text(), "research", {}, None),
    "example self_evolving": ((EXAMPLES / "self_evolving.yaml").read_text(), "self_evolving", {}, None),
    "example quickstart.py's workflow": (load_quickstart_workflow(), "example_workflow",
                                         {"data": "quarterly sales figures"}, None),
    "scenario 10-step tool chain": (CHAIN, "chain", {"seed": {"n": 0}}, None),
    "scenario fan-out and join, 4 at once": (FAN_OUT_JOIN, "fan", {"topic": "joins"}, 4),
    "scenario tool retries and failure": (RETRIES, "retries", {"args": {"tag": "x"}}, None),
    "scenario max_steps stops an endless loop": (STEP_BUDGET, "loop", {"seed": {"n": 0}}, None),
    "scenario child with signals to parent": (CHILD, "parent", {"seed": {"n": 41}}, None),
}


def _normalised(value: Any) -> Any:
    """``value`` with execution ids (random per run) replaced by a placeholder."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    return _ID.sub("<id>", value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def worker(temporal_address, request):
    from tests.conftest import POSTGRES_DSN, _postgres_or_skip

    psycopg = _postgres_or_skip()
    schema = f"soe_test_{uuid.uuid4().hex[:16]}"
    started = ThreadWorker(temporal_address, f"{POSTGRES_DSN}?schema={schema}", _tools(),
                           llm_from_spec("echo"), f"equivalence-{schema}")
    yield started
    started.close()
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _in_process(config: str, name: str, context: dict[str, Any], concurrency: int | None) -> dict[str, Any]:
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=llm_from_spec("echo"), tools_registry=_tools())
    _FLAKY_CALLS.clear()
    return _outcome(backends, lambda execution_id: orchestrate(
        config, name, ["START"], context, backends, broadcast, max_concurrency=concurrency,
        execution_id=execution_id))


def _on_temporal(worker: ThreadWorker, config: str, name: str, context: dict[str, Any],
                 concurrency: int | None) -> dict[str, Any]:
    _FLAKY_CALLS.clear()
    return _outcome(worker.backends, lambda execution_id: orchestrate(
        config, name, ["START"], context, None, None, max_concurrency=concurrency, execution_id=execution_id,
        runner=worker.runner))


def _outcome(backends: Any, run: Any) -> dict[str, Any]:
    """Run, then read status and context; a failed tree raises (in process and on Temporal alike)."""
    execution_id = str(uuid.uuid4())
    raised = None
    try:
        run(execution_id)
    except Exception as exc:  # noqa: BLE001 - compared below: both runners must raise for a failed tree
        raised = exc
    status = get_execution_status(execution_id, backends)
    assert (raised is not None) == (status["status"] == "failed")
    return {"status": status, "context": backends.context.get_context(execution_id)}


def test_every_example_is_a_case():
    shipped = sorted(path.name for path in EXAMPLES.glob("*.yaml"))
    covered = sorted(config for config, *_ in CASES.values() if config in
                     {(EXAMPLES / name).read_text() for name in shipped})
    assert len(covered) == len(shipped)


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_final_context_as_in_process(worker, case):
    config, name, context, concurrency = CASES[case]
    local = _in_process(config, name, context, concurrency)
    remote = _on_temporal(worker, config, name, context, concurrency)
    assert remote["status"]["status"] == local["status"]["status"]
    if concurrency:  # calls complete in any order, in process too: compare what happened, not when
        for run in (local, remote):
            run["context"]["__operational__"]["signals"].sort()
    assert _normalised(remote["context"]) == _normalised(local["context"])
    assert remote["context"]["__operational__"]["signals"], "the tree ran on the worker"
    if case.startswith("scenario max_steps"):
        assert remote["status"]["status"] == "failed" and "Step budget of 7" in remote["status"]["error"]
