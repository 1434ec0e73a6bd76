"""The ``soe`` command line (the ``cli`` extra): run, validate, lint, graph, inspect, list, resume, signal.

This package is the only place that imports Typer and Rich, so the engine
keeps its three dependencies; ``soe.cli.app`` explains how to install the
extra when they are missing.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``soe`` command (see :func:`soe.cli.app.main`)."""
    from soe.cli.app import main as app_main

    app_main()
