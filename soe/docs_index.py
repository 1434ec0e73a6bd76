"""The index of the guide shipped under ``soe/docs/`` (SPEC §10.3), read by ``soe_explore_docs``.

``scripts/build_docs_index.py`` writes it as package data, ``soe/docs_index.json``,
where each section is stored once, inside its file. :func:`expand_index` turns
that into the SPEC's ``DOCS_INDEX`` shape when this module is first imported:
a file's ``sections`` and the section items are then the same objects, its
``children`` are its sections that no other section contains, sections inherit
their file's tags, and the tag map lists every tagged file and section.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["DOCS_INDEX", "expand_index"]

INDEX_RESOURCE = "docs_index.json"


def _section_item(file_path: str, tags: list[str], stored: dict[str, Any]) -> dict[str, Any]:
    return {"type": "section", "path": stored["path"], "file_path": file_path,
            "start_line": stored["start_line"], "end_line": stored["end_line"],
            "children": list(stored["children"]), "tags": list(tags), "level": stored["level"]}


def _file_items(file_path: str, stored: dict[str, Any]) -> list[dict[str, Any]]:
    """The file item, then its section items in document order."""
    tags = stored["tags"]
    sections = [_section_item(file_path, tags, section) for section in stored["sections"]]
    nested = {child for section in sections for child in section["children"]}
    file_item = {"type": "file", "path": file_path,
                 "children": [s["path"] for s in sections if s["path"] not in nested],
                 "tags": list(tags), "sections": sections, "frontmatter_end_offset": None}
    return [file_item, *sections]


def expand_index(stored: dict[str, Any]) -> dict[str, Any]:
    """``DOCS_INDEX`` (``items``, ``tags``, ``root_children``) from the stored form."""
    items: dict[str, dict[str, Any]] = {
        path: {"type": "dir", "children": list(children), "path": path}
        for path, children in stored["dirs"].items()
    }
    tag_map: dict[str, list[str]] = {}
    for file_path, stored_file in stored["files"].items():
        for item in _file_items(file_path, stored_file):
            items[item["path"]] = item
            for tag in stored_file["tags"]:
                tag_map.setdefault(tag, []).append(item["path"])
    return {"items": items,
            "tags": {tag: sorted(paths) for tag, paths in sorted(tag_map.items())},
            "root_children": list(stored["root_children"])}


def _load() -> dict[str, Any]:
    text = resources.files("soe").joinpath(INDEX_RESOURCE).read_text(encoding="utf-8")
    return expand_index(json.loads(text))


DOCS_INDEX: dict[str, Any] = _load()
