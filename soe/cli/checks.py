"""What ``soe`` checks before it runs anything: a valid config, a clean lint, a known workflow, heard signals.

Each check raises (``WorkflowValidationError``, ``ValueError``) or exits 2, so a
bad input leaves nothing in the store.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer

from soe._errors import WorkflowValidationError
from soe.cli import EXIT_BAD_INPUT, render
from soe.cli.session import error_console
from soe.inputs import first_workflow
from soe.types import Backends

__all__ = ["check_listened", "check_valid", "lint_before_run", "workflow_to_start"]


def check_valid(text: str, filename: str) -> None:
    """Refuse an invalid config before anything is stored, pointing at the line and column."""
    from soe.validation.locate import validate_text

    failure = validate_text(text, filename)
    if failure is not None:
        raise WorkflowValidationError(str(failure))


def lint_before_run(text: str, filename: str, *, signals: Sequence[str], fields: Sequence[str],
             quiet: bool) -> None:
    """Lint before running: every error stops the run (exit 2), warnings are printed first.

    Validation alone misses what only the whole config shows (a condition that
    cannot compile, a child workflow that does not exist); both would make the
    run give a wrong result quietly. Warnings (misspelled keys, unguarded
    loops...) do not stop it; ``--quiet`` hides them.
    """
    from soe.validation.lint import lint_config

    findings = lint_config(text, initial_signals=signals, initial_context_fields=fields, filename=filename)
    errors = [finding for finding in findings if finding.severity == "error"]
    console = error_console()
    for finding in errors:
        render.print_error(console, render.finding_line(finding, filename))
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)
    if not quiet:
        render.print_warnings(console, [f for f in findings if f.severity == "warning"], filename)


def workflow_to_start(text: str, requested: str | None) -> str:
    """``--workflow`` if the config has it, else the first workflow."""
    from soe.validation.graph import extract_workflows

    if requested is None:
        return first_workflow(text)
    names = [str(name) for name in extract_workflows(text)]
    if requested not in names:
        raise WorkflowValidationError(f"Workflow '{requested}' not found in config. "
                                      f"Available workflows: {', '.join(names)}")
    return requested


def check_listened(backends: Backends, execution_id: str, signals: Sequence[str]) -> None:
    """Refuse signals no node of the execution's workflow listens for.

    Broadcasting one runs nothing and reports ``completed``, which looks like
    an approval went through; a typo in the signal is far likelier.
    """
    from soe.validation.graph import listened_signals

    workflow = backends.workflow.get_current_workflow_name(execution_id)
    registry = backends.workflow.get_workflows_registry(execution_id) or {}
    listened = listened_signals(registry.get(workflow))
    unheard = [signal for signal in signals if signal not in listened]
    if unheard:
        raise ValueError(f"No node of execution '{execution_id}' (workflow '{workflow}') listens for "
                         f"{', '.join(unheard)}; it listens for: {', '.join(listened) or 'nothing'}")
