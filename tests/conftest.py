"""Shared fixtures: fresh in-memory backends, PostgreSQL stores and deterministic LLM stubs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends

POSTGRES_DSN = os.environ.get("SOE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_or_skip() -> Any:
    """psycopg, once the test server answers; skips (fails in CI) with the reason when it cannot."""
    try:
        import psycopg

        psycopg.connect(POSTGRES_DSN, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any reason to not have a server is reported as such
        reason = f"PostgreSQL not usable at {POSTGRES_DSN}: {type(exc).__name__}: {exc}".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return psycopg


@pytest.fixture
def postgres_url():
    """A store URL naming a fresh schema of the test database; the schema is dropped afterwards."""
    psycopg = _postgres_or_skip()
    schema = f"soe_test_{uuid.uuid4().hex[:16]}"
    yield f"{POSTGRES_DSN}?schema={schema}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_backends(postgres_url):
    from soe.backends.postgres import create_postgres_backends

    backends = create_postgres_backends(postgres_url)
    yield backends
    backends.close()


# An endless router loop (the CLI's loop warnings and output summaries).
PING_PONG_LOOP = """\
wf:
  Ping:
    node_type: router
    event_triggers: [START, PONG]
    event_emissions:
      - signal_name: PING
  Pong:
    node_type: router
    event_triggers: [PING]
    event_emissions:
      - signal_name: PONG
"""


@pytest.fixture
def backends():
    return create_in_memory_backends()


class ScriptedLLM:
    """A messages-form call_llm that answers from a script and records every call."""

    def __init__(self, *answers: Any):
        self.answers = list(answers)
        self.calls: list[tuple[list[dict], Any]] = []

    def __call__(self, messages: list[dict], response_model: Any) -> Any:
        self.calls.append((messages, response_model))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return answer(messages, response_model)
        return answer

    @property
    def prompts(self) -> list[str]:
        return [messages[0]["content"] for messages, _ in self.calls]


def run(config: Any, backends: Any, *, workflow: str | None = None, signals: list[str] | None = None,
        context: dict | None = None, call_llm: Callable | None = None, tools: dict | None = None,
        **kwargs: Any) -> str:
    """Orchestrate ``config`` with fresh node callers; returns the execution id."""
    _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=tools)
    if workflow is None:
        workflow = next(iter(config)) if isinstance(config, dict) else None
    return orchestrate(config=config, initial_workflow_name=workflow, initial_signals=signals or ["START"],
                       initial_context=context or {}, backends=backends,
                       broadcast_signals_caller=broadcast, **kwargs)


def events(backends: Any, execution_id: str, event_type: str | None = None) -> list[dict]:
    found = backends.telemetry.get_events(execution_id)
    return [e for e in found if event_type is None or e["event_type"] == event_type]


def as_json(value: Any) -> str:
    return json.dumps(value)


# The Temporal tests' fixtures (a dev server per session, `soe worker` processes): tests/temporal/support.py
# The engine's scenario tests replayed on Temporal, when SOE_SCENARIOS_ON_TEMPORAL is set: tests/temporal/scenarios.py
from tests.temporal.scenarios import scenarios_on_temporal  # noqa: E402,F401
from tests.temporal.support import temporal_address, workers  # noqa: E402,F401
