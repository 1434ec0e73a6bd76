#!/usr/bin/env python
"""Build the shipped guide (``soe/docs/``) and its index (``soe/docs_index.json``) from ``docs_src/``.

Why this exists: the authored chapters carry a front-matter block with their tags, but the
files shipped inside the package must not (SPEC §10.3), and ``soe_explore_docs`` needs an
index whose line numbers refer to the shipped, stripped files. Generating both from one
source keeps them in step; ``--check`` lets tests and CI prove the committed copy is current.

The index ships as package data, each section stored once inside its file;
``soe.docs_index`` expands it to ``DOCS_INDEX`` on import.

Usage::

    .venv/bin/python scripts/build_docs_index.py            # rewrite soe/docs/ and soe/docs_index.json
    .venv/bin/python scripts/build_docs_index.py --check    # exit 1 if they are out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "GENERATE_COMMAND",
    "HEADING_RE",
    "build",
    "build_file_items",
    "build_index",
    "collect_sources",
    "find_headings",
    "main",
    "render_data",
    "split_front_matter",
    "stored_form",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_PACKAGE_DIR = "soe/docs/"
INDEX_FILE = "soe/docs_index.json"
GENERATE_COMMAND = ".venv/bin/python scripts/build_docs_index.py"

HEADING_RE = re.compile(r"^(#{1,6})\s+(.+)$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TAGS_RE = re.compile(r"^tags:\s*(.*)$")


# --------------------------------------------------------------------------- front matter


def split_front_matter(text: str) -> tuple[list[str], str]:
    """Return ``(tags, body)``: the comma list of the ``tags:`` line and the text without front matter.

    The block is a first line ``---`` up to the next ``---`` line; blank lines after it are
    dropped too so the shipped file starts with its title. Text without a block is unchanged.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return [], text
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            tags = _parse_tags(lines[1:end])
            rest = lines[end + 1 :]
            while rest and not rest[0].strip():
                rest = rest[1:]
            return tags, "".join(rest)
    return [], text


def _parse_tags(block: list[str]) -> list[str]:
    """Tags from the first ``tags:`` line of a front-matter block (brackets tolerated)."""
    for line in block:
        match = _TAGS_RE.match(line.strip())
        if match:
            raw = match.group(1).strip().strip("[]")
            return [tag.strip().strip("'\"") for tag in raw.split(",") if tag.strip()]
    return []


# --------------------------------------------------------------------------- headings


def find_headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """``(1-based line, level, text)`` of every heading outside fenced code blocks.

    A ``#`` comment inside a code sample is not a heading; upstream indexed those too.
    """
    headings: list[tuple[int, int, str]] = []
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        fence_match = _FENCE_RE.match(line)
        if fence is None:
            if fence_match and _opens_fence(line, fence_match):
                fence = fence_match.group(1)
                continue
            match = HEADING_RE.match(line)
            if match:
                headings.append((number, len(match.group(1)), match.group(2).strip()))
        elif _closes_fence(line, fence):
            fence = None
    return headings


def _opens_fence(line: str, match: re.Match[str]) -> bool:
    """CommonMark: a backtick fence's info string may not contain a backtick."""
    marker = match.group(1)
    return marker[0] != "`" or "`" not in line[match.end() :]


def _closes_fence(line: str, fence: str) -> bool:
    """A closing fence uses the opening character, at least as many times, and nothing else."""
    stripped = line.strip()
    return (
        len(stripped) >= len(fence)
        and set(stripped) == {fence[0]}
        and len(line) - len(line.lstrip(" ")) <= 3
    )


# --------------------------------------------------------------------------- items


def _unique_key(base: str, used: set[str]) -> str:
    """``base``, or ``base (2)``, ``base (3)``… for later duplicates (upstream overwrote)."""
    key, counter = base, 1
    while key in used:
        counter += 1
        key = f"{base} ({counter})"
    used.add(key)
    return key


def build_file_items(file_path: str, body: str, tags: list[str]) -> tuple[dict, list[dict]]:
    """The file item and its section items (document order) for one shipped file."""
    lines = body.splitlines()
    headings = find_headings(lines)
    used: set[str] = set()
    sections: list[dict] = []
    top_level: list[str] = []
    stack: list[dict] = []
    for index, (start, level, text) in enumerate(headings):
        section = {
            "type": "section",
            "path": _unique_key(f"{file_path}/{text}", used),
            "file_path": file_path,
            "start_line": start,
            "end_line": _section_end(headings, index, len(lines)),
            "children": [],
            "tags": list(tags),
            "level": level,
        }
        while stack and stack[-1]["level"] >= level:
            stack.pop()
        (stack[-1]["children"] if stack else top_level).append(section["path"])
        stack.append(section)
        sections.append(section)
    file_item = {
        "type": "file",
        "path": file_path,
        "children": top_level,
        "tags": list(tags),
        "sections": [dict(section, children=list(section["children"])) for section in sections],
        "frontmatter_end_offset": None,
    }
    return file_item, sections


def _section_end(headings: list[tuple[int, int, str]], index: int, last_line: int) -> int:
    """Line before the next heading of the same or a higher level, else the file's last line."""
    level = headings[index][1]
    for start, other_level, _text in headings[index + 1 :]:
        if other_level <= level:
            return start - 1
    return max(last_line, headings[index][0])


def build_index(files: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """``DOCS_INDEX`` for ``{shipped path: (stripped body, tags)}``; paths start with ``soe/docs/``."""
    items: dict[str, dict] = {
        "docs/": {"type": "dir", "children": [], "path": "docs/"},
        "soe/": {"type": "dir", "children": [DOCS_PACKAGE_DIR], "path": "soe/"},
        DOCS_PACKAGE_DIR: {"type": "dir", "children": [], "path": DOCS_PACKAGE_DIR},
    }
    tag_map: dict[str, list[str]] = {}
    for file_path in sorted(files):
        body, tags = files[file_path]
        _add_to_dirs(items, file_path)
        file_item, sections = build_file_items(file_path, body, tags)
        items[file_path] = file_item
        for entry in [file_item, *sections]:
            items[entry["path"]] = entry
            for tag in tags:
                tag_map.setdefault(tag, []).append(entry["path"])
    for item in items.values():
        if item["type"] == "dir":
            item["children"] = sorted(set(item["children"]))
    return {
        "items": items,
        "tags": {tag: sorted(paths) for tag, paths in sorted(tag_map.items())},
        "root_children": ["docs/"],
    }


def _add_to_dirs(items: dict[str, dict], file_path: str) -> None:
    """Create the directory items between ``soe/docs/`` and ``file_path`` and link the file."""
    parts = file_path[len(DOCS_PACKAGE_DIR) :].split("/")
    parent = DOCS_PACKAGE_DIR
    for part in parts[:-1]:
        directory = f"{parent}{part}/"
        items.setdefault(directory, {"type": "dir", "children": [], "path": directory})
        items[parent]["children"].append(directory)
        parent = directory
    items[parent]["children"].append(file_path)


# --------------------------------------------------------------------------- files


def collect_sources(src_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """Every ``*.md`` under ``src_dir`` as ``{soe/docs/<rel>: (stripped body, tags)}``."""
    files: dict[str, tuple[str, list[str]]] = {}
    for source in sorted(src_dir.rglob("*.md")):
        rel = source.relative_to(src_dir).as_posix()
        tags, body = split_front_matter(source.read_text(encoding="utf-8"))
        files[DOCS_PACKAGE_DIR + rel] = (body, tags)
    return files


def stored_form(index: dict[str, Any]) -> dict[str, Any]:
    """The index as shipped: directories, then files holding their sections once.

    Section tags, file children and the tag map are left out: ``soe.docs_index``
    derives them (sections inherit their file's tags).
    """
    items = index["items"]
    dirs = {path: item["children"] for path, item in items.items() if item["type"] == "dir"}
    files = {
        path: {
            "tags": item["tags"],
            "sections": [
                {key: section[key] for key in ("path", "start_line", "end_line", "level", "children")}
                for section in item["sections"]
            ],
        }
        for path, item in items.items()
        if item["type"] == "file"
    }
    return {"dirs": dirs, "files": files, "root_children": index["root_children"]}


def render_data(index: dict[str, Any]) -> str:
    """Text of ``soe/docs_index.json``; keys sorted and one value per line, so diffs stay small."""
    return json.dumps(stored_form(index), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build(src_dir: Path, out_root: Path) -> dict[str, Any]:
    """Write ``out_root/soe/docs/**`` (stripped) and ``out_root/soe/docs_index.json``; return the index."""
    files = collect_sources(src_dir)
    docs_dir = out_root / DOCS_PACKAGE_DIR
    _remove_stale(docs_dir, {path[len(DOCS_PACKAGE_DIR) :] for path in files})
    for file_path, (body, _tags) in files.items():
        _write_if_changed(out_root / file_path, body)
    index = build_index(files)
    _write_if_changed(out_root / INDEX_FILE, render_data(index))
    return index


def _remove_stale(docs_dir: Path, keep: set[str]) -> None:
    """Delete shipped Markdown whose source is gone, so the index never names a missing file."""
    if not docs_dir.is_dir():
        return
    for shipped in docs_dir.rglob("*.md"):
        if shipped.relative_to(docs_dir).as_posix() not in keep:
            shipped.unlink()


def _write_if_changed(target: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps mtimes stable)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def _outputs(root: Path) -> dict[str, str]:
    """Generated files under ``root`` keyed by relative path, for ``--check``."""
    found = {p.relative_to(root).as_posix(): p for p in (root / DOCS_PACKAGE_DIR).rglob("*.md")}
    found[INDEX_FILE] = root / INDEX_FILE
    return {rel: p.read_text(encoding="utf-8") if p.exists() else "" for rel, p in found.items()}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=REPO_ROOT / "docs_src")
    parser.add_argument("--out", type=Path, default=REPO_ROOT)
    parser.add_argument(
        "--check", action="store_true", help="only report whether outputs are current"
    )
    args = parser.parse_args(argv)
    if not args.check:
        index = build(args.src, args.out)
        print(f"wrote {len(index['items'])} index items to {args.out / INDEX_FILE}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(args.src, Path(tmp))
        expected, actual = _outputs(Path(tmp)), _outputs(args.out)
    stale = sorted(
        rel for rel in expected.keys() | actual.keys() if expected.get(rel) != actual.get(rel)
    )
    if stale:
        print("out of date: " + ", ".join(stale) + f"\nrun: {GENERATE_COMMAND}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
