"""The ``soe`` command's shared options and arguments (Typer annotations), declared once for every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "ContextOption",
    "ContextStringOption",
    "FileArgument",
    "FilesArgument",
    "HistoryOption",
    "JsonOption",
    "LlmBaseUrlOption",
    "LlmOption",
    "LlmOptionOption",
    "NamespaceOption",
    "OtelOption",
    "SignalOption",
    "StoreOption",
    "TaskQueueOption",
    "TemporalOption",
    "ToolsOption",
]

StoreOption = Annotated[str | None, typer.Option(
    "--store", envvar="SOE_STORE", metavar="STORE",
    help="Where executions are kept: sqlite:PATH, postgresql://USER@HOST:PORT/DB[?schema=S], "
         "a directory (local files) or memory "
         "(default: .soe/soe.db in the nearest folder up the tree that has .soe/).")]
LlmOption = Annotated[str | None, typer.Option(
    "--llm", envvar="SOE_LLM", metavar="SPEC", help="The model: echo (offline), openai:MODEL, anthropic:MODEL, litellm:MODEL.")]
LlmOptionOption = Annotated[list[str] | None, typer.Option(
    "--llm-option", metavar="KEY=VALUE",
    help="A model option for the adapter (temperature=0, max_tokens=200, tool_calling=json, ...), "
         "typed like --context; nodes' own options win; repeatable.")]
LlmBaseUrlOption = Annotated[str | None, typer.Option(
    "--llm-base-url", metavar="URL",
    help="The provider's base URL, e.g. a local OpenAI-compatible server (default: the provider's "
         "environment variable, e.g. OPENAI_BASE_URL).")]
ToolsOption = Annotated[list[str] | None, typer.Option(
    "--tools", metavar="MODULE:ATTR", help="module:attribute (or path/file.py:attribute) naming a dict of tools or one callable; "
                    "repeatable.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]
HistoryOption = Annotated[bool, typer.Option("--history", help="Show every value of each field, not the last.")]
SignalOption = Annotated[list[str] | None, typer.Option("--signal", "-s", metavar="SIGNAL", help="Initial signal; repeatable (default START).")]
ContextOption = Annotated[list[str] | None, typer.Option(
    "--context", "-c", metavar="KEY=VALUE",
    help="A context value: 500, true, null, [a, b] and {k: v} are typed (YAML), "
         "anything else is text; repeatable; wins over --context-file.")]
ContextStringOption = Annotated[list[str] | None, typer.Option(
    "--context-string", metavar="KEY=VALUE", help="A value kept as text (500 stays '500'); repeatable; "
                                                  "wins over --context.")]
FilesArgument = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, metavar="FILE", help="Workflow YAML files.")]
FileArgument = Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE", help="A workflow YAML file.")]
TemporalOption = Annotated[str | None, typer.Option(
    "--temporal", envvar="SOE_TEMPORAL", metavar="HOST:PORT",
    help="Run on Temporal workers (soe worker) instead of in this process; needs --store postgresql://….")]
TaskQueueOption = Annotated[str, typer.Option("--task-queue", metavar="Q", help="Temporal task queue.")]
NamespaceOption = Annotated[str, typer.Option("--namespace", metavar="N", help="Temporal namespace.")]
OtelOption = Annotated[str | None, typer.Option(
    "--otel", metavar="EXPORTER", help="OpenTelemetry spans to console (stderr) or otlp (OTEL_* variables); "
                                       "needs the otel extra.")]
