"""Waiting executions (soe.engine.waiting): drained, but a node listens for a signal only outsiders send."""

from __future__ import annotations

import pytest

from soe import create_all_nodes, get_execution_status, list_executions, orchestrate
from soe.backends.sqlite import create_sqlite_backends
from soe.local_backends import create_in_memory_backends
from soe.types import WorkflowValidationError
from soe.validation.lint import lint_config
from soe.validation.locate import validate_text

ONE_DECISION_NODE = """
review:
  Ask:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: ASKED}]
  Decide:
    node_type: router
    event_triggers: [APPROVED, REJECTED]
    event_emissions: [{signal_name: DECIDED}]
"""

SEPARATE_BRANCHES = """
external_signals:
  - [APPROVED, REJECTED]
review:
  Ask:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: ASKED}]
  Ship:
    node_type: router
    event_triggers: [APPROVED]
    event_emissions: [{signal_name: SHIPPED}]
  Drop:
    node_type: router
    event_triggers: [REJECTED]
    event_emissions: [{signal_name: DROPPED}]
"""

STEPS = """
form:
  AskName:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: NAME_ASKED}]
  AskAge:
    node_type: router
    event_triggers: [NAME_GIVEN]
    event_emissions: [{signal_name: AGE_ASKED}]
  Finish:
    node_type: router
    event_triggers: [AGE_GIVEN]
    event_emissions: [{signal_name: FORM_DONE}]
"""


@pytest.fixture(params=["memory", "sqlite"])
def backends(request, tmp_path):
    if request.param == "memory":
        yield create_in_memory_backends()
        return
    store = create_sqlite_backends(tmp_path / "soe.db")
    yield store
    store.close()


def start(backends, config, workflow):
    _, broadcast = create_all_nodes(backends)
    return orchestrate(config, workflow, ["START"], {}, backends, broadcast), broadcast


def status(backends, execution_id):
    record = get_execution_status(execution_id, backends)
    return record["status"], record.get("waiting_for")


def test_waiting_approval_on_one_node_completes_after_either_answer(backends):
    eid, broadcast = start(backends, ONE_DECISION_NODE, "review")
    assert status(backends, eid) == ("waiting", ["APPROVED", "REJECTED"])
    broadcast(eid, ["REJECTED"])
    assert status(backends, eid) == ("completed", None)


def test_waiting_declared_alternatives_close_both_branches(backends):
    eid, broadcast = start(backends, SEPARATE_BRANCHES, "review")
    assert status(backends, eid) == ("waiting", ["APPROVED", "REJECTED"])
    broadcast(eid, ["APPROVED"])
    assert status(backends, eid) == ("completed", None)
    assert backends.context.get_context(eid)["__operational__"]["signals"][-1] == "SHIPPED"


def test_waiting_without_the_declaration_separate_branches_wait_for_each(backends):
    undeclared = SEPARATE_BRANCHES.replace("external_signals:\n  - [APPROVED, REJECTED]\n", "")
    eid, broadcast = start(backends, undeclared, "review")
    broadcast(eid, ["APPROVED"])
    assert status(backends, eid) == ("waiting", ["REJECTED"])


def test_waiting_multi_step_input_waits_for_each_step_in_turn(backends):
    eid, broadcast = start(backends, STEPS, "form")
    assert status(backends, eid) == ("waiting", ["NAME_GIVEN", "AGE_GIVEN"])
    broadcast(eid, ["NAME_GIVEN"])
    assert status(backends, eid) == ("waiting", ["AGE_GIVEN"])
    assert eid in [r["execution_id"] for r in list_executions(backends, status="waiting")]
    broadcast(eid, ["AGE_GIVEN"])
    assert status(backends, eid) == ("completed", None)
    assert eid not in [r["execution_id"] for r in list_executions(backends, status="waiting")]


def test_waiting_node_listening_for_an_arrived_or_emitted_signal_does_not_wait(backends):
    config = """
loop:
  Try:
    node_type: router
    event_triggers: [START, RETRY]
    event_emissions: [{signal_name: TRIED}]
  Check:
    node_type: router
    event_triggers: [TRIED]
    event_emissions: [{signal_name: RETRY, condition: "{{ false }}"}]
"""
    eid, _ = start(backends, config, "loop")
    # RETRY can be emitted by Check; START, external, already arrived: Try's wait is answered
    assert status(backends, eid) == ("completed", None)
    config = config.replace("signal_name: RETRY", "signal_name: OTHER")
    eid, _ = start(backends, config, "loop")
    assert status(backends, eid) == ("completed", None)  # one of Try's triggers (START) arrived
    eid, _ = start(backends, config + "  Later: {node_type: router, event_triggers: [RETRY], event_emissions: [{signal_name: Z}]}\n", "loop")
    assert status(backends, eid) == ("waiting", ["RETRY"])


def test_waiting_child_counts_signals_emitted_by_its_parent_workflow_as_internal(backends):
    config = """
main:
  Spawn:
    node_type: child
    event_triggers: [START]
    child_workflow_name: sub
    child_initial_signals: [BEGIN]
    signals_to_parent: [SUB_DONE]
  After:
    node_type: router
    event_triggers: [SUB_DONE]
    event_emissions: [{signal_name: ALL_DONE}]
sub:
  Work:
    node_type: router
    event_triggers: [BEGIN]
    event_emissions: [{signal_name: SUB_DONE}]
"""
    eid, _ = start(backends, config, "main")
    assert status(backends, eid) == ("completed", None)
    children = [r for r in list_executions(backends)
                if r["main_execution_id"] == eid and r["execution_id"] != eid]
    assert [r["status"] for r in children] == ["completed"]


class TestExternalSignalsValidation:
    """The ``external_signals`` key: its shape, its reservation and where errors point."""

    @pytest.mark.parametrize(("declared", "message"), [
        ("APPROVED", "'external_signals' must be a list of signal names (a nested list groups "
                     "alternatives, e.g. [[APPROVED, REJECTED]])"),
        ("[APPROVED, 3]", "external_signals[1]: must be a signal name or a non-empty list of "
                          "signal names, got 3"),
        ("[[]]", "external_signals[0]: must be a signal name or a non-empty list of signal "
                 "names, got []"),
    ])
    def test_fail(self, declared, message):
        config = f"external_signals: {declared}\nwf:\n  A: {{node_type: router, event_triggers: [START], " \
                 "event_emissions: [{signal_name: X}]}\n"
        with pytest.raises(WorkflowValidationError) as info:
            orchestrate(config, "wf", ["START"], {}, create_in_memory_backends(),
                        create_all_nodes(create_in_memory_backends())[1])
        assert str(info.value) == message
        failure = validate_text(config, "f.yaml")
        assert (failure.line, failure.column) == (1, 1)

    def test_success_in_the_combined_shape(self):
        config = {"workflows": {"wf": {"A": {"node_type": "router", "event_triggers": ["GO"],
                                             "event_emissions": [{"signal_name": "X"}]}}},
                  "external_signals": ["GO"]}
        backends = create_in_memory_backends()
        eid = orchestrate(config, "wf", ["START"], {}, backends, create_all_nodes(backends)[1])
        assert status(backends, eid) == ("waiting", ["GO"])
        assert backends.workflow.get_workflows_registry(eid).keys() == {"wf"}

    def test_reserved_as_a_workflow_name(self):
        from soe.registry import inject_workflow

        backends = create_in_memory_backends()
        eid = orchestrate("wf:\n  A: {node_type: router, event_triggers: [START], event_emissions: "
                          "[{signal_name: X}]}\n", "wf", ["START"], {}, backends,
                          create_all_nodes(backends)[1])
        with pytest.raises(WorkflowValidationError,
                           match="^'external_signals' is reserved and cannot be used as a workflow name$"):
            inject_workflow(eid, "external_signals", {"A": {"node_type": "router"}}, backends)


def test_lint_declared_external_signal_is_not_reported_as_never_emitted():
    dead = [f for f in lint_config(ONE_DECISION_NODE) if f.code == "SOE003"]
    assert [f.severity for f in dead] == ["warning", "warning"]
    declared = "external_signals: [APPROVED, REJECTED]\n" + ONE_DECISION_NODE
    assert [f for f in lint_config(declared) if f.code == "SOE003"] == []
