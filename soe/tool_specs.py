"""``--tools MODULE:ATTR``: importing the user's tools for a command or the server.

A spec names a module (or a ``.py`` file) and an attribute: a dict of tools, a
callable or a list of callables. Every mistake raises ``ValueError`` saying what
was expected; the command line turns it into exit 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["load_attribute", "load_tools"]


def _import_file(path: Path) -> ModuleType:
    """Import a ``.py`` file as a module; its folder joins ``sys.path`` so it can import siblings."""
    if not path.is_file():
        raise ValueError(f"No such file: '{path}'")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"soe_cli_tools_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"Cannot import '{path}'")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _import_module(name: str) -> ModuleType:
    """Import a dotted module name the way ``python -m`` would: the current folder comes first."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return importlib.import_module(name)


def load_attribute(spec: str) -> Any:
    """``package.module:attribute`` or ``path/to/file.py:attribute`` to the object it names."""
    module_part, sep, attribute = spec.rpartition(":")
    if not sep or not module_part or not attribute:
        raise ValueError(f"Invalid --tools '{spec}': expected module:attribute "
                         "(e.g. myproject.tools:TOOLS or examples/tools.py:TOOLS)")
    try:
        if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
            target: Any = _import_file(Path(module_part))
        else:
            target = _import_module(module_part)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise ValueError(f"Cannot load --tools '{spec}': {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - the module's own code failed while it was imported
        raise ValueError(f"Cannot load --tools '{spec}': importing it failed: {exc}") from exc
    return target


def _tools_from(value: Any, spec: str) -> dict[str, Any]:
    """A registry from a dict of tools, one callable, or a list of callables (keyed by name)."""
    if isinstance(value, Mapping):
        return dict(value)
    if callable(value):
        return {value.__name__: value}
    if isinstance(value, (list, tuple)) and all(callable(item) for item in value):
        return {item.__name__: item for item in value}
    raise ValueError(f"--tools '{spec}' must name a dict of tools, a callable or a list of callables, "
                     f"got {type(value).__name__}")


def load_tools(specs: Sequence[str]) -> dict[str, Any]:
    """One tools registry from every ``--tools`` flag; later flags win on a name clash.

    Always a dict (possibly empty) so tool nodes can still call the built-in tools.
    """
    registry: dict[str, Any] = {}
    for spec in specs:
        registry.update(_tools_from(load_attribute(spec), spec))
    return registry
