"""The ``soe`` command line (the ``cli`` extra): run, validate, lint, graph, inspect, list, resume, signal.

This package is the only place that imports Typer and Rich, so the engine
keeps its three dependencies; ``soe.cli.app`` (the ``soe`` entry point) explains
how to install the extra when they are missing.
"""

from __future__ import annotations

__all__ = ["CLI_EXTRA_MESSAGE", "EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK"]

# The exit codes scripts rely on (see soe.cli.app).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

CLI_EXTRA_MESSAGE = ("The soe command needs the cli extra (Typer and Rich): pip install typer rich, "
                     "or reinstall SOE with it (pip install \".[cli]\" from a checkout)")

