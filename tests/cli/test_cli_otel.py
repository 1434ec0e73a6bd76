"""``--otel``: the CLI turns OpenTelemetry spans on for one command (a process of its own here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triage.yaml"


def soe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "soe", *args], capture_output=True, text=True, timeout=120)


def test_run_otel_console_prints_the_span_tree_to_stderr():
    result = soe("run", str(EXAMPLE), "--llm", "echo", "--store", "memory", "--json", "--otel", "console",
                 "-c", "ticket=URGENT: checkout is down")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"  # stdout stays one JSON document
    decoder = json.JSONDecoder()
    spans, text = [], result.stderr.strip()
    while text:
        span, end = decoder.raw_decode(text)
        spans.append(span)
        text = text[end:].strip()
    names = {span["name"]: span for span in spans}
    assert {"soe.execution triage", "soe.node Classify", "chat echo"} <= set(names)
    execution = names["soe.execution triage"]["context"]["span_id"]
    assert names["soe.node Classify"]["parent_id"] == execution
    assert names["chat echo"]["attributes"]["gen_ai.request.model"] == "echo"


def test_run_otel_unknown_exporter_is_bad_input():
    result = soe("run", str(EXAMPLE), "--llm", "echo", "--store", "memory", "--otel", "jaeger")
    assert result.returncode == 2
    assert "Unknown --otel 'jaeger': use console or otlp" in result.stderr
