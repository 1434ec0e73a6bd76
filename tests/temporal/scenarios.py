"""The engine's own scenario tests, replayed on Temporal: every top-level ``orchestrate`` of a covered test
also runs through ``soe.temporal.Runner`` against a worker, and both final contexts must agree.

Off unless ``SOE_SCENARIOS_ON_TEMPORAL`` names a Temporal server (``tests/temporal/test_scenarios.py``
sets it and runs the covered modules in a pytest subprocess). The test itself runs unchanged, in process,
and makes its own assertions; the fixture ``scenarios_on_temporal`` wraps the ``orchestrate`` and
``create_all_nodes`` its module (and ``tests.conftest.run``) call. Before the in-process call, the test
process forks: the child runs the same call on Temporal, with a worker of its own holding the very same
tools and LLM (scripted LLMs, tools that count their calls), so nothing the test observes changes, and
reports the outcome through a pipe.

A call is compared when it is a top-level start with a config and node callers from ``create_all_nodes``;
calls that inherit from another execution (the Temporal runner needs a config), that pass a ``runner``, or
that come from inside a running tree are counted as skipped, with the reason.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import pytest

ADDRESS = "SOE_SCENARIOS_ON_TEMPORAL"
STORE = "SOE_SCENARIOS_STORE"
REPORT = "SOE_SCENARIOS_REPORT"
_SHADOW_SECONDS = 60
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# The covered modules and why the rest are not: see docs_src/guide_25_scaling_out.md ("What is guaranteed").
COVERED = (
    "tests/nodes/test_tool_node.py",
    "tests/nodes/test_llm_node.py",
    "tests/nodes/test_agent_node.py",
    "tests/engine/test_orchestrate.py",
)


# Open finding (issue 10): a call_llm that raises leaves the tree's workflow running on Temporal (the
# comparison times out). Listed so that the rest is checked; remove an entry once it passes.
KNOWN_DIFFERENT = {
    "tests/nodes/test_tool_node.py::test_downstream_llm_failure_propagates_and_tool_is_not_rerun",
    "tests/nodes/test_llm_node.py::test_call_llm_exception_is_not_retried_and_emits_failure_signal",
    "tests/nodes/test_llm_node.py::test_call_llm_exception_without_failure_signal_becomes_runtime_error",
    "tests/nodes/test_llm_node.py::test_usage_reported_by_a_raising_call_is_accounted",
    "tests/nodes/test_agent_node.py::test_call_llm_exception_in_parameter_stage_is_a_tool_error",
    "tests/nodes/test_agent_node.py::test_call_llm_exception_without_signal_propagates_with_no_event",
    "tests/nodes/test_agent_node.py::test_response_failure_with_signal",
}


def normalised(value: Any) -> Any:
    """``value`` with execution ids (random per run) replaced by a placeholder."""
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return _ID.sub("<id>", value) if isinstance(value, str) else value


def _outcome(backends: Any, execution_id: str, raised: BaseException | None, concurrent: bool) -> dict[str, Any]:
    from soe import get_execution_status

    try:
        status = get_execution_status(execution_id, backends)
        context = backends.context.get_context(execution_id) or {}
    except (TypeError, ValueError):  # an id the test expects to be refused
        status, context = None, {}
    if concurrent and "__operational__" in context:  # calls complete in any order: what happened, not when
        context["__operational__"]["signals"] = sorted(context["__operational__"]["signals"])
    return {"raised": raised is not None, "status": (status or {}).get("status"),
            "context": normalised(json.loads(json.dumps(context, default=repr)))}


def _on_temporal(scenario: dict[str, Any], args: tuple, options: dict[str, Any]) -> dict[str, Any]:
    """In the forked child: a worker with the scenario's callers, the call through the Runner, its outcome."""
    from soe import orchestrate
    from tests.temporal.support import ThreadWorker

    worker = ThreadWorker(os.environ[ADDRESS], os.environ[STORE], scenario["tools"], scenario["llm"],
                          f"scenario-{uuid.uuid4().hex[:12]}", confine=scenario["confine"])
    raised = None
    try:
        orchestrate(*args[:4], None, None, runner=worker.runner, **options)
    except Exception as exc:  # noqa: BLE001 - compared: both runners raise for a failed or refused start
        raised = exc
    return _outcome(worker.backends, options["execution_id"], raised, bool(options.get("max_concurrency")))


def _forked(scenario: dict[str, Any], args: tuple, options: dict[str, Any]) -> dict[str, Any]:
    """Run ``_on_temporal`` in a child process that has this process's state, and read its outcome."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        signal.alarm(_SHADOW_SECONDS)
        try:
            payload = json.dumps(_on_temporal(scenario, args, options))
        except BaseException:  # noqa: BLE001 - reported to the parent as the comparison's failure
            payload = json.dumps({"crashed": traceback.format_exc()})
        with os.fdopen(write, "w") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(text) if text else {"crashed": f"the Temporal run did not answer in {_SHADOW_SECONDS} s"}


class Shadow:
    """Wraps one test's ``orchestrate``/``create_all_nodes`` and keeps what the comparisons found."""

    def __init__(self, orchestrate: Any, create_all_nodes: Any, known_different: bool = False) -> None:
        self.original, self.nodes_factory = orchestrate, create_all_nodes
        self.known_different = known_different
        self.counts: collections.Counter[str] = collections.Counter()
        self.mismatches: list[str] = []

    def create_all_nodes(self, backends: Any, call_llm: Any = None, tools_registry: Any = None, *,
                         confine_builtin_tools: bool = False) -> Any:
        nodes, broadcast = self.nodes_factory(backends, call_llm=call_llm, tools_registry=tools_registry,
                                              confine_builtin_tools=confine_builtin_tools)
        broadcast.scenario = {"llm": call_llm, "tools": tools_registry, "confine": confine_builtin_tools,
                              "node_types": sorted(nodes)}
        return nodes, broadcast

    def _skip_reason(self, args: tuple, options: dict[str, Any]) -> str | None:
        from soe.engine.trees import draining_runner

        if self.known_different:
            return "known different (KNOWN_DIFFERENT)"
        if options.get("runner") is not None:
            return "runs on a runner already"
        if args[6:] and any(args[6:]) or options.get("inherit_config_from_id") or options.get("inherit_context_from_id"):
            return "inherits from another execution"
        if not args[0]:
            return "no config"
        if draining_runner() is not None:
            return "started inside a running tree"
        if not hasattr(args[5], "scenario"):
            return "node callers not from create_all_nodes"
        if not type(args[4].context).__module__.startswith("soe."):
            return "the test's own backend classes"
        if sorted(args[5].nodes) != args[5].scenario["node_types"]:
            return "custom node types added by the test (bound to its own backends)"
        return None

    def orchestrate(self, *args: Any, **options: Any) -> Any:
        names = ("config", "initial_workflow_name", "initial_signals", "initial_context", "backends",
                 "broadcast_signals_caller", "inherit_config_from_id", "inherit_context_from_id")
        given = dict(zip(names, args, strict=False)) | {key: options.pop(key) for key in names if key in options}
        args = tuple(given.get(name) for name in names)
        reason = self._skip_reason(args, options)
        if reason is not None:
            self.counts[f"skipped: {reason}"] += 1
            return self.original(*args, **options)
        options.setdefault("execution_id", None)
        options["execution_id"] = options["execution_id"] or str(uuid.uuid4())
        remote = _forked(args[5].scenario, args, options)
        raised: BaseException | None = None
        try:
            return self.original(*args, **options)
        except BaseException as exc:
            raised = exc
            raise
        finally:
            local = _outcome(args[4], options["execution_id"], raised, bool(options.get("max_concurrency")))
            self._compare(local, remote)

    def _compare(self, local: dict[str, Any], remote: dict[str, Any]) -> None:
        self.counts["compared"] += 1
        if "crashed" in remote:
            self.mismatches.append(f"the Temporal run crashed:\n{remote['crashed']}")
        elif remote != local:
            self.mismatches.append(f"in process: {local}\non Temporal: {remote}")


def _covered(path: Path) -> bool:
    root = Path(__file__).resolve().parents[2]
    return str(path.resolve().relative_to(root)) in COVERED


@pytest.fixture(autouse=True)
def scenarios_on_temporal(request, monkeypatch):
    """With ``SOE_SCENARIOS_ON_TEMPORAL`` set, compare each covered test's starts with Temporal's."""
    if not os.environ.get(ADDRESS) or not _covered(Path(str(request.node.path))):
        yield
        return
    root = sys.modules["conftest"]  # the suite imports its root conftest as ``conftest`` (``run``)
    module = request.module
    shadow = Shadow(root.orchestrate, root.create_all_nodes, request.node.nodeid.split("[")[0] in KNOWN_DIFFERENT)
    for target in {module, root}:
        if "orchestrate" in vars(target):
            monkeypatch.setattr(target, "orchestrate", shadow.orchestrate)
        if "create_all_nodes" in vars(target):
            monkeypatch.setattr(target, "create_all_nodes", shadow.create_all_nodes)
    yield
    with open(os.environ[REPORT], "a", encoding="utf-8") as report:
        report.write(json.dumps({"test": request.node.nodeid, "counts": shadow.counts,
                                 "mismatches": shadow.mismatches}) + "\n")
    if shadow.mismatches:
        pytest.fail("different on Temporal:\n" + "\n\n".join(shadow.mismatches), pytrace=False)
