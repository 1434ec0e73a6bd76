"""Local-file backends with upstream's directory layout (SPEC §11.4).

Every rewrite goes to a temporary file in the same directory and is moved into
place with ``os.replace``, so a crash mid-write leaves the previous file whole.
Every id becomes part of a file name only after ``check_id`` accepted it.
Read-modify-write methods hold a per-instance lock, so threads of one process
never lose an update.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml

from soe._errors import StoreError
from soe.backends._keyed_objects import ContextSchemaMethods, IdentityMethods
from soe.lib.context_fields import set_field
from soe.lib.ids import check_id
from soe.lib.operational import apply_operational_event
from soe.lib.snapshot import FrozenDict, freeze, thaw

__all__ = [
    "LocalContextBackend",
    "LocalContextSchemaBackend",
    "LocalConversationHistoryBackend",
    "LocalIdentityBackend",
    "LocalTelemetryBackend",
    "LocalWorkflowBackend",
]

StrPath = str | os.PathLike[str]
_MISSING = object()
_TEMP = ".*.tmp"  # left behind only if a process died mid-write
_SNAPSHOTS_KEPT = 256  # registry snapshots remembered per workflow backend


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path``'s content all at once; on failure the old file is untouched.

    The temporary name is hidden and ends in ``.tmp``, so no ``cleanup_all``
    pattern or reader ever sees it; ``open(..., "x")`` keeps the usual umask
    permissions (``mkstemp`` would make every file owner-only).
    """
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise StoreError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: Any) -> None:
    _atomic_write(path, json.dumps(data, indent=2, default=str))


def _read_json(path: Path, default: Callable[[], Any]) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default()


def _delete_matching(directory: Path, *patterns: str) -> None:
    for pattern in patterns:
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)


class _FileBackend:
    """A storage directory (created with parents) and a lock for read-modify-writes."""

    def __init__(self, storage_dir: StrPath) -> None:
        self.storage_dir = Path(storage_dir)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()

    def _path(self, id: str, suffix: str) -> Path:
        return self.storage_dir / f"{check_id(id)}{suffix}"


class LocalContextBackend(_FileBackend):
    """``<dir>/<id>.json`` per execution."""

    def __init__(self, storage_dir: StrPath = "./orchestration_data/contexts") -> None:
        super().__init__(storage_dir)

    def save_context(self, id: str, context: dict[str, Any]) -> None:
        path = self._path(id, ".json")
        with self._lock:
            _write_json(path, context)

    def get_context(self, id: str) -> dict[str, Any]:
        return cast("dict[str, Any]", _read_json(self._path(id, ".json"), dict))

    def append_to_field(self, execution_id: str, field: str, value: Any) -> None:
        """Exactly ``get_context``, ``set_field``, ``save_context``, without interleaving."""
        path = self._path(execution_id, ".json")
        with self._lock:
            context = _read_json(path, dict)
            set_field(context, field, value)
            _write_json(path, context)

    def update_operational(self, execution_id: str, event_type: str, data: dict[str, Any]) -> None:
        """Apply an event's counter change; no-op without a stored ``__operational__``."""
        path = self._path(execution_id, ".json")
        with self._lock:
            context = _read_json(path, dict)
            operational = context.get("__operational__")
            if not isinstance(operational, dict):
                return
            apply_operational_event(operational, event_type, data)
            _write_json(path, context)

    def cleanup_all(self) -> None:
        with self._lock:
            _delete_matching(self.storage_dir, "*.json", _TEMP)


class LocalWorkflowBackend(_FileBackend):
    """``<id>_workflows.json``, ``<id>_current.txt`` and ``<id>_revisions.json`` per execution."""

    def __init__(self, storage_dir: StrPath = "./orchestration_data/workflows") -> None:
        super().__init__(storage_dir)
        self._snapshots: dict[str, tuple[bytes, FrozenDict]] = {}

    def save_workflows_registry(self, id: str, workflows: dict[str, Any]) -> None:
        path = self._path(id, "_workflows.json")
        with self._lock:
            _write_json(path, workflows)

    def get_workflows_registry(self, id: str) -> dict[str, Any]:
        return cast("dict[str, Any]", _read_json(self._path(id, "_workflows.json"), dict))

    def get_workflows_registry_snapshot(self, id: str) -> FrozenDict | None:
        """The engine's read-only view, parsed again only when the file's bytes changed.

        Comparing the bytes read with those of the cached version is exact
        whichever process wrote the file, and far cheaper than parsing and
        freezing it; one snapshot per version also keeps the listener index
        cached, so a step no longer re-parses and re-indexes the whole workflow.
        """
        try:
            raw = self._path(id, "_workflows.json").read_bytes()
        except FileNotFoundError:
            return None
        with self._lock:
            cached = self._snapshots.get(id)
        if cached is not None and cached[0] == raw:
            return cached[1]
        snapshot = cast("FrozenDict", freeze(json.loads(raw)))
        with self._lock:
            self._snapshots[id] = (raw, snapshot)
            while len(self._snapshots) > _SNAPSHOTS_KEPT:
                self._snapshots.pop(next(iter(self._snapshots)))
        return snapshot

    def save_current_workflow_name(self, id: str, name: str) -> None:
        path = self._path(id, "_current.txt")
        with self._lock:
            _atomic_write(path, name)

    def get_current_workflow_name(self, id: str) -> str:
        try:
            return self._path(id, "_current.txt").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""

    def save_registry_revision(self, execution_id: str, revision: dict[str, Any]) -> None:
        path = self._path(execution_id, "_revisions.json")
        with self._lock:
            revisions = _read_json(path, list)
            revisions.append(revision)
            _write_json(path, revisions)

    def get_registry_revisions(self, execution_id: str) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", _read_json(self._path(execution_id, "_revisions.json"), list))

    def cleanup_all(self) -> None:
        with self._lock:
            _delete_matching(self.storage_dir, "*_workflows.json", "*_current.txt",
                             "*_revisions.json", _TEMP)


class LocalTelemetryBackend(_FileBackend):
    """``<dir>/<id>.jsonl``: one event per line, appended (never rewritten)."""

    def __init__(self, storage_dir: StrPath = "./orchestration_data/telemetry") -> None:
        super().__init__(storage_dir)

    def log_event(self, execution_id: str, event_type: str, **event_data: Any) -> None:
        path = self._path(execution_id, ".jsonl")
        line = json.dumps({"event_type": event_type, **event_data}, default=str) + "\n"
        with self._lock, open(path, "a", encoding="utf-8") as handle:
            handle.write(line)

    def get_events(self, execution_id: str) -> list[dict[str, Any]]:
        """Logged events in order; blank or malformed lines (e.g. a torn last line) are skipped."""
        try:
            with open(self._path(execution_id, ".jsonl"), encoding="utf-8") as handle:
                lines = handle.readlines()
        except FileNotFoundError:
            return []
        return [event for event in map(_parse_line, lines) if event is not None]

    def cleanup_all(self) -> None:
        with self._lock:
            _delete_matching(self.storage_dir, "*.jsonl")


def _parse_line(line: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


class LocalConversationHistoryBackend(_FileBackend):
    """``<dir>/<key>.json`` per history key."""

    def __init__(self, storage_dir: StrPath = "./orchestration_data/conversations") -> None:
        super().__init__(storage_dir)

    def get_conversation_history(self, key: str) -> list[Any]:
        return cast("list[Any]", _read_json(self._path(key, ".json"), list))

    def append_to_conversation_history(self, key: str, entry: dict[str, Any]) -> None:
        path = self._path(key, ".json")
        with self._lock:
            history = _read_json(path, list)
            history.append(entry)
            _write_json(path, history)

    def save_conversation_history(self, key: str, history: list[Any]) -> None:
        path = self._path(key, ".json")
        with self._lock:
            _write_json(path, history)

    def delete_conversation_history(self, key: str) -> None:
        path = self._path(key, ".json")
        with self._lock:
            path.unlink(missing_ok=True)

    def cleanup_all(self) -> None:
        with self._lock:
            _delete_matching(self.storage_dir, "*.json", _TEMP)


class _CachedYamlBackend(_FileBackend):
    """``<dir>/<id>.yaml`` per execution, behind an in-process cache of the saved object."""

    def __init__(self, storage_dir: StrPath) -> None:
        super().__init__(storage_dir)
        self._cache: dict[str, Any] = {}

    def _save(self, execution_id: str, value: Any) -> None:
        path = self._path(execution_id, ".yaml")
        with self._lock:
            _atomic_write(path, yaml.dump(thaw(value), default_flow_style=False))
            self._cache[execution_id] = value

    def _get(self, execution_id: str) -> Any:
        path = self._path(execution_id, ".yaml")
        with self._lock:
            if execution_id in self._cache:
                return self._cache[execution_id]
            try:
                value = yaml.safe_load(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return None
            self._cache[execution_id] = value
            return value

    def _entry(self, execution_id: str, name: str) -> Any:
        stored = self._get(execution_id)
        return stored.get(name) if isinstance(stored, dict) else None

    def _forget(self, execution_id: str) -> tuple[bool, bool]:
        """Drop the cache entry and the file: (was cached, file existed)."""
        path = self._path(execution_id, ".yaml")
        with self._lock:
            cached = self._cache.pop(execution_id, _MISSING) is not _MISSING
            try:
                path.unlink()
            except FileNotFoundError:
                return cached, False
            return cached, True


class LocalContextSchemaBackend(ContextSchemaMethods, _CachedYamlBackend):
    """Context schemas (field name -> definition) as YAML."""

    def __init__(self, storage_dir: StrPath = "./orchestration_data/schemas") -> None:
        super().__init__(storage_dir)

    def delete_context_schema(self, execution_id: str) -> bool:
        """``True`` only if a file was deleted (a cache-only entry does not count)."""
        return self._forget(execution_id)[1]

    def cleanup_all(self) -> None:
        with self._lock:
            shutil.rmtree(self.storage_dir, ignore_errors=True)
            self.storage_dir.mkdir(parents=True, exist_ok=True)
            self._cache.clear()


class LocalIdentityBackend(IdentityMethods, _CachedYamlBackend):
    """Identities (name -> system prompt) as YAML."""

    def __init__(self, storage_dir: StrPath = "./orchestration_data/identities") -> None:
        super().__init__(storage_dir)

    def delete_identities(self, execution_id: str) -> bool:
        """``True`` if the identities were cached or had a file."""
        return any(self._forget(execution_id))

    def cleanup_all(self) -> None:
        with self._lock:
            self._cache.clear()
            _delete_matching(self.storage_dir, "*.yaml", _TEMP)
