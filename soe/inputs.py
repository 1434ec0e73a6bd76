"""Turning command-line text into what the public API takes: backends, context, config.

Everything here is plain Python (no Typer, no Rich) so the rules for reading
``--store``, ``--context`` and ``--context-file`` (``--tools``: :mod:`soe.tool_specs`) can be tested and
reused without a terminal: the command line and the service both read their
inputs here, so neither interface imports the other for them. Every user mistake raises ``ValueError`` with a
message that says what was expected; the command line turns it into exit 2.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from soe.lib.yaml_parser import load_yaml, parse_yaml
from soe.types import Backends
from soe.validation.graph import extract_workflows

__all__ = [
    "DEFAULT_STORE",
    "LLM_NODE_TYPES",
    "apply_budgets",
    "build_initial_context",
    "STORE_DIR",
    "close_store",
    "find_store",
    "first_workflow",
    "load_context_file",
    "missing_tools",
    "needs_llm",
    "open_store",
    "parse_context_pairs",
    "parse_context_value",
    "plain",
    "read_config",
    "resolve_execution_id",
    "shown_store",
    "user_fields",
]

DEFAULT_STORE = "sqlite:.soe/soe.db"
"""Runs are kept by default, so ``soe inspect``/``resume``/``signal`` work on them afterwards."""

STORE_DIR = ".soe"

LLM_NODE_TYPES = frozenset({"llm", "agent"})
_SQLITE_PREFIX = "sqlite:"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: 'C:' is a drive
_MEMORY = "memory"


# --------------------------------------------------------------------------- store


def open_store(spec: str, *, must_exist: bool = False, read_only: bool = False) -> Any:
    """Backends for ``memory``, ``sqlite:PATH``, ``postgresql://…`` or a bare PATH (local files).

    ``must_exist`` is for commands that read an earlier run (inspect, resume,
    signal): opening a store that is not there would silently create an empty
    one and then report "not found", which hides a mistyped path.
    ``read_only`` (inspect) opens a SQLite file for reading only. A SQLite file
    is opened at once, so a store that is not a database, is a directory or
    cannot be written is refused here, before anything runs.
    """
    from soe.local_backends import create_in_memory_backends, create_local_backends

    spec = spec.strip()
    if spec == _MEMORY:
        if must_exist:
            raise ValueError("The 'memory' store keeps nothing between commands; "
                             "use --store sqlite:PATH or a directory")
        return create_in_memory_backends()
    if spec.startswith(_SQLITE_PREFIX):
        return _open_sqlite(spec[len(_SQLITE_PREFIX):], must_exist, read_only)
    if spec.startswith(_POSTGRES_PREFIXES):
        return _open_postgres(spec, must_exist)
    if not spec:
        raise ValueError("Empty --store: use 'memory', 'sqlite:PATH', 'postgresql://…' "
                         "or a directory")
    scheme = _SCHEME.match(spec)
    if scheme:
        raise ValueError(f"Unknown --store scheme '{scheme.group(1)}:' in '{spec}': use 'memory', "
                         "'sqlite:PATH', 'postgresql://…' or a directory")
    if must_exist and not Path(spec).is_dir():
        raise ValueError(f"No local-file store at '{spec}' (expected a directory)")
    return create_local_backends(spec)


def _open_sqlite(path: str, must_exist: bool, read_only: bool) -> Any:
    import sqlite3

    from soe.backends.sqlite import create_sqlite_backends

    if not path:
        raise ValueError("--store sqlite: needs a path, e.g. sqlite:.soe/soe.db")
    if must_exist and not Path(path).is_file():
        raise ValueError(f"No SQLite store at '{path}'")
    backends = create_sqlite_backends(path, read_only=read_only)
    try:
        backends.check()
    except (sqlite3.Error, OSError) as exc:
        backends.close()
        raise ValueError(f"Cannot use SQLite store '{path}': {exc}") from exc
    return backends


def _open_postgres(dsn: str, must_exist: bool) -> Any:
    try:
        from soe.backends.postgres import create_postgres_backends
    except ModuleNotFoundError as exc:
        raise ValueError(f"--store {dsn.split('://')[0]}:// needs {exc.name}: "
                         "pip install '.[postgres]' from a checkout of SOE") from None
    return create_postgres_backends(dsn, create=not must_exist)


def shown_store(spec: str) -> str:
    """``spec`` as the command line may print it: a PostgreSQL URL's password becomes ``***``."""
    if not spec.strip().startswith(_POSTGRES_PREFIXES):
        return spec
    parts = urlsplit(spec.strip())
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = "&".join("password=***" if pair.startswith("password=") else pair
                     for pair in parts.query.split("&"))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def find_store(start: str | Path | None = None) -> str:
    """The default store: ``.soe/soe.db`` in the nearest folder (this one or above) that has ``.soe/``.

    Found the way git finds ``.git``, so ``soe inspect ID`` printed after a run
    still works after a ``cd`` into a subfolder; with no ``.soe/`` anywhere
    above, a new one is made here (``DEFAULT_STORE``).
    """
    folder = Path(start if start is not None else os.getcwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / STORE_DIR).is_dir():
            return f"{_SQLITE_PREFIX}{candidate / STORE_DIR / 'soe.db'}"
    return DEFAULT_STORE


def resolve_execution_id(backends: Backends, given: str) -> str:
    """The stored execution ``given`` names: its full id, or a unique prefix of one (like git's short ids)."""
    from soe.engine.resume import get_execution_status, list_executions

    try:
        if get_execution_status(given, backends) is not None or backends.context.get_context(given):
            return given
    except ValueError:
        pass  # not a usable id ('' or '.'), but still a prefix
    matches = [str(entry["execution_id"]) for entry in list_executions(backends)
               if str(entry["execution_id"]).startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
        raise ValueError(f"Execution id prefix '{given}' is ambiguous: it matches {shown}")
    raise ValueError(f"Execution '{given}' not found in this store")


def close_store(backends: Backends) -> None:
    """Close what the store holds open (SQLite connections, a PostgreSQL pool); others hold nothing."""
    close = getattr(backends, "close", None)
    if callable(close):
        close()


# --------------------------------------------------------------------------- context


_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")
_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None, "~": None}


def parse_context_value(text: str) -> Any:
    """A ``--context`` value as the user means it: ``500`` a number, ``[a, b]`` a list, else text.

    Numbers, ``true``/``false`` and ``null`` follow YAML 1.2's core schema (as
    Helm's ``--set`` does), so ``yes``, ``007`` or ``2024-01-01`` stay strings; a value
    starting with ``[`` or ``{`` is a YAML flow collection and a quoted one
    (``'500'``) a YAML string. Anything else, including ``a: b``, is kept as
    written; ``--context-string`` keeps even ``500`` a string.
    """
    stripped = text.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        try:
            quoted = yaml.safe_load(stripped)
        except yaml.YAMLError:
            return text
        return quoted if isinstance(quoted, str) else text
    if stripped[:1] in ("[", "{"):
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError as exc:
            raise ValueError(f"Invalid --context value {text!r}: not a YAML list or mapping "
                             f"({getattr(exc, 'problem', None) or exc}); use --context-string for text") from exc
    if stripped.lower() in _WORDS and stripped in (stripped.lower(), stripped.capitalize(), stripped.upper()):
        return _WORDS[stripped.lower()]
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        return float(stripped)
    return text


def parse_context_pairs(pairs: Iterable[str], *, typed: bool = True,
                        flag: str = "--context") -> dict[str, Any]:
    """``KEY=VALUE`` flags to a dict (values typed unless ``typed=False``); a later flag wins."""
    context: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"Invalid {flag} '{pair}': expected KEY=VALUE")
        context[key] = parse_context_value(value) if typed else value
    return context


def load_context_file(path: str | Path) -> dict[str, Any]:
    """A JSON (``.json``) or YAML (anything else) file holding one mapping of typed values."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"Cannot read --context-file '{path}': {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise ValueError(f"Invalid --context-file '{path}': {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"--context-file '{path}' must hold a mapping of field names to values, "
                         f"got {type(data).__name__}")
    return dict(data)


def build_initial_context(context_file: str | Path | None, pairs: Iterable[str],
                          strings: Iterable[str] = ()) -> dict[str, Any]:
    """The file's values, then ``--context`` (typed), then ``--context-string`` (text) on top."""
    context = load_context_file(context_file) if context_file else {}
    context.update(parse_context_pairs(pairs))
    context.update(parse_context_pairs(strings, typed=False))
    return context


# --------------------------------------------------------------------------- config


def read_config(path: str | Path) -> str:
    """The config file's text (UTF-8)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"Cannot read '{path}': {exc.strerror or exc}") from exc


def first_workflow(config: Any) -> str:
    """The workflow ``soe run`` starts when ``--workflow`` is not given: the first one."""
    workflows = extract_workflows(config)
    if not workflows:
        raise ValueError("The config defines no workflow")
    return str(next(iter(workflows)))


def needs_llm(workflows: Mapping[Any, Any] | None) -> bool:
    """Whether any node is an LLM or agent node, so running without ``--llm`` would fail later."""
    return any(node.get("node_type") in LLM_NODE_TYPES for node in _nodes(workflows))


def _nodes(workflows: Mapping[Any, Any] | None) -> list[Mapping[str, Any]]:
    return [node for workflow in (workflows or {}).values() if isinstance(workflow, Mapping)
            for node in workflow.values() if isinstance(node, Mapping)]


def _tool_names_used(node: Mapping[str, Any]) -> list[Any]:
    if node.get("node_type") == "tool":
        return [node.get("tool_name")]
    if node.get("node_type") == "agent" and isinstance(node.get("tools"), list):
        return list(node["tools"])
    return []


def _function_name(entry: Any) -> str | None:
    function = entry.get("function") if isinstance(entry, Mapping) else entry
    return getattr(function, "__name__", None)


def missing_tools(workflows: Mapping[Any, Any] | None, registry: Mapping[str, Any]) -> list[str]:
    """Tool names that tool and agent nodes use but neither ``--tools`` nor the built-ins provide.

    Checked before a run because a tool missing at run time fails the
    execution for good (a forgotten ``--tools`` on ``soe resume`` would lose it).
    """
    from soe.builtin_tools import BUILTIN_TOOLS

    known = set(BUILTIN_TOOLS) | set(registry) | {_function_name(entry) for entry in registry.values()}
    missing: list[str] = []
    for node in _nodes(workflows):
        for name in _tool_names_used(node):
            if isinstance(name, str) and name not in known and name not in missing:
                missing.append(name)
    return missing


def apply_budgets(config: Any, **budgets: int | None) -> Any:
    """The config with ``limits`` budgets set from flags; unchanged when no flag is given.

    The engine reads ``max_llm_calls``/``max_tokens`` only from config ``limits``,
    so a flag is written there, winning over the file's value.
    """
    given = {name: value for name, value in budgets.items() if value is not None}
    if not given:
        return config
    parsed = parse_yaml(config)
    if not isinstance(parsed, Mapping):
        return config  # let orchestrate report the shape error
    limits = parsed.get("limits")
    merged = dict(limits) if isinstance(limits, Mapping) else {}
    merged.update(given)
    return {**parsed, "limits": merged}


# --------------------------------------------------------------------------- results


def plain(value: Any) -> Any:
    """JSON-ready data: mappings to dicts, sequences to lists, anything else unknown to ``str``."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def user_fields(context: Mapping[str, Any] | None, *, history: bool = False) -> dict[str, Any]:
    """The context without engine fields (``__``): last value per field, or every value."""
    fields: dict[str, Any] = {}
    for key, values in (context or {}).items():
        if str(key).startswith("__"):
            continue
        if isinstance(values, list):
            fields[key] = plain(values) if history else plain(values[-1] if values else None)
        else:
            fields[key] = plain(values)
    return fields
