"""``soe signal`` refuses a signal no node of the execution listens for (it would look finished)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from soe.cli.app import app

runner = CliRunner()

APPROVAL = """\
approval:
  Ask:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: WAITING_FOR_APPROVAL
  Approved:
    node_type: router
    event_triggers: [APPROVED, REJECTED]
    event_emissions:
      - signal_name: SHIPPED
        condition: "{{ context.answer == 'yes' }}"
"""


def test_an_unheard_signal_is_refused_with_the_heard_ones(tmp_path):
    path = tmp_path / "approval.yaml"
    path.write_text(APPROVAL)
    store = f"sqlite:{tmp_path / 's.db'}"
    started = json.loads(runner.invoke(app, ["run", str(path), "--store", store, "--json", "-q"]).stdout)
    execution_id = started["execution_id"]
    before = json.loads(runner.invoke(app, ["inspect", execution_id, "--store", store, "--json"]).stdout)

    refused = runner.invoke(app, ["signal", execution_id, "APROVED", "--store", store, "-c", "answer=yes"])
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        f"Error: No node of execution '{execution_id}' (workflow 'approval') listens for APROVED; "
        "it listens for: START, APPROVED, REJECTED")
    after = json.loads(runner.invoke(app, ["inspect", execution_id, "--store", store, "--json"]).stdout)
    assert after["context"] == before["context"] and len(after["events"]) == len(before["events"])

    accepted = runner.invoke(app, ["signal", execution_id, "APPROVED", "--store", store, "-c", "answer=yes"])
    assert accepted.exit_code == 0, accepted.output
    assert "SHIPPED" in accepted.stdout
