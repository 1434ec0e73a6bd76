"""``python -m soe``: the ``soe`` command, for environments without the console script on PATH."""

from __future__ import annotations

from soe.cli.app import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
