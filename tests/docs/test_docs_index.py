"""The generated docs index: structure invariants, generation rules, and freshness.

Why: ``soe_explore_docs`` trusts the index blindly (line ranges, children, tags), so the
generator's rules from SPEC §10.3 and the committed output are both pinned here.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from soe.docs_index import DOCS_INDEX, expand_index

REPO = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^(#{1,6})\s+(.+)$")
FILE_KEYS = {"type", "path", "children", "tags", "sections", "frontmatter_end_offset"}
SECTION_KEYS = {"type", "path", "file_path", "start_line", "end_line", "children", "tags", "level"}


def _load_builder() -> ModuleType:
    """Import scripts/build_docs_index.py (scripts/ is not a package); skip if not shipped."""
    name = "soe_build_docs_index_under_test"
    if name in sys.modules:
        return sys.modules[name]
    script = REPO / "scripts" / "build_docs_index.py"
    if not script.is_file() or not (REPO / "docs_src").is_dir():
        pytest.skip("scripts/build_docs_index.py or docs_src/ not present (installed package)")
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def builder() -> ModuleType:
    return _load_builder()


ITEMS = DOCS_INDEX["items"]


def _of_type(kind: str) -> dict[str, dict]:
    return {key: item for key, item in ITEMS.items() if item["type"] == kind}


# --------------------------------------------------------------------------- shipped index


def test_top_level_shape() -> None:
    assert set(DOCS_INDEX) == {"items", "tags", "root_children"}
    assert DOCS_INDEX["root_children"] == ["docs/"]
    assert ITEMS["docs/"] == {"type": "dir", "children": [], "path": "docs/"}
    assert ITEMS["soe/"] == {"type": "dir", "children": ["soe/docs/"], "path": "soe/"}
    assert ITEMS["soe/docs/"]["type"] == "dir"


def test_required_files_and_subdirectory() -> None:
    assert ITEMS["soe/docs/guide_00_getting_started.md"]["type"] == "file"
    assert "soe/docs/GUIDE.md" in ITEMS
    subdirs = [c for c in ITEMS["soe/docs/"]["children"] if c.endswith("/")]
    assert "soe/docs/advanced_patterns/" in subdirs
    for name in ("swarm.md", "hybrid.md", "self_evolving.md"):
        assert (
            f"soe/docs/advanced_patterns/{name}" in ITEMS["soe/docs/advanced_patterns/"]["children"]
        )


def test_every_chapter_is_indexed() -> None:
    chapters = sorted(p.name for p in (REPO / "soe" / "docs").glob("guide_*.md"))
    assert len(chapters) >= 19
    assert chapters[0] == "guide_00_getting_started.md"
    assert [f"guide_{i:02d}" for i in range(len(chapters))] == [name[:8] for name in chapters]
    for name in chapters:
        assert ITEMS[f"soe/docs/{name}"]["children"], name


def test_dir_items_list_existing_children() -> None:
    for key, item in _of_type("dir").items():
        assert key.endswith("/") and item["path"] == key
        assert set(item) == {"type", "children", "path"}
        for child in item["children"]:
            assert child in ITEMS and child.startswith(key)


def test_file_items() -> None:
    files = _of_type("file")
    assert files
    for key, item in files.items():
        assert set(item) == FILE_KEYS, key
        assert item["path"] == key
        assert item["frontmatter_end_offset"] is None
        assert item["tags"], f"{key} has no tags"
        assert (REPO / key).is_file()
        assert not (REPO / key).read_text(encoding="utf-8").startswith("---")
        assert [s["path"] for s in item["sections"]] == sorted(
            (k for k, s in ITEMS.items() if s.get("file_path") == key),
            key=lambda k: ITEMS[k]["start_line"],
        )
        for section in item["sections"]:
            assert section == ITEMS[section["path"]]


def test_section_items_ranges_and_headings() -> None:
    sections = _of_type("section")
    assert sections
    for key, item in sections.items():
        assert set(item) == SECTION_KEYS, key
        lines = (REPO / item["file_path"]).read_text(encoding="utf-8").splitlines()
        assert item["end_line"] != -1
        assert 1 <= item["start_line"] <= item["end_line"] <= len(lines), key
        match = HEADING.match(lines[item["start_line"] - 1])
        assert match and len(match.group(1)) == item["level"]
        assert key.startswith(item["file_path"] + "/")
        assert item["tags"] == ITEMS[item["file_path"]]["tags"]
        for child in item["children"]:
            assert ITEMS[child]["level"] > item["level"]
            assert item["start_line"] < ITEMS[child]["start_line"] <= item["end_line"]


def test_no_title_or_preview() -> None:
    for item in ITEMS.values():
        assert "title" not in item and "content_preview" not in item


def test_tags_map_matches_items() -> None:
    tags = DOCS_INDEX["tags"]
    assert tags
    for tag, paths in tags.items():
        assert paths == sorted(paths)
        for path in paths:
            assert tag in ITEMS[path]["tags"]
    for key, item in ITEMS.items():
        for tag in item.get("tags", []):
            assert key in tags[tag]


def test_chapters_are_focused(builder: ModuleType) -> None:
    for path in sorted((REPO / "docs_src").glob("guide_*.md")):
        count = len(path.read_text(encoding="utf-8").splitlines())
        assert 60 <= count <= 200, (path.name, count)


# --------------------------------------------------------------------------- freshness


def test_committed_outputs_are_up_to_date(tmp_path: Path, builder: ModuleType) -> None:
    builder.build(REPO / "docs_src", tmp_path)
    generated = (tmp_path / builder.INDEX_FILE).read_text(encoding="utf-8")
    assert generated == (REPO / builder.INDEX_FILE).read_text(encoding="utf-8"), (
        f"{builder.INDEX_FILE} is stale; run {builder.GENERATE_COMMAND}"
    )
    shipped = {p.relative_to(REPO).as_posix() for p in (REPO / "soe" / "docs").rglob("*.md")}
    expected = {
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "soe" / "docs").rglob("*.md")
    }
    assert shipped == expected
    for rel in expected:
        assert (REPO / rel).read_text(encoding="utf-8") == (tmp_path / rel).read_text(
            encoding="utf-8"
        )


def test_check_mode_reports_current(builder: ModuleType) -> None:
    assert builder.main(["--check"]) == 0


def test_index_ships_as_package_data_with_each_section_stored_once() -> None:
    stored = importlib.resources.files("soe").joinpath("docs_index.json")
    assert stored.is_file()
    data = json.loads(stored.read_text(encoding="utf-8"))
    stored_paths = [s["path"] for f in data["files"].values() for s in f["sections"]]
    sections = _of_type("section")
    assert sorted(stored_paths) == sorted(sections)
    text = stored.read_text(encoding="utf-8")
    for key in sections:
        assert text.count(f'"path": {json.dumps(key, ensure_ascii=False)}') == 1, key


# --------------------------------------------------------------------------- generation rules

FIXTURE = """---
title: ignored
tags: alpha,  beta ,gamma
---

# Top

intro

```python
# not a heading
## nor this
```

~~~
# tilde fence comment
~~~

## Part

text

### Deep

more

## Part

again
# Second top
tail
"""


def _build_fixture(tmp_path: Path, files: dict[str, str]) -> tuple[dict, Path]:
    builder = _load_builder()
    src = tmp_path / "src"
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    return builder.build(src, out), out


def test_front_matter_stripped_and_tags_parsed(tmp_path: Path) -> None:
    index, out = _build_fixture(tmp_path, {"guide_00_getting_started.md": FIXTURE})
    shipped = (out / "soe/docs/guide_00_getting_started.md").read_text(encoding="utf-8")
    assert shipped.startswith("# Top\n")
    assert "tags:" not in shipped
    file_item = index["items"]["soe/docs/guide_00_getting_started.md"]
    assert file_item["tags"] == ["alpha", "beta", "gamma"]
    assert set(index["tags"]) == {"alpha", "beta", "gamma"}
    assert "soe/docs/guide_00_getting_started.md/Top" in index["tags"]["beta"]


def test_headings_in_code_fences_ignored_and_duplicates_suffixed(tmp_path: Path) -> None:
    index, out = _build_fixture(tmp_path, {"guide_00_getting_started.md": FIXTURE})
    items = index["items"]
    base = "soe/docs/guide_00_getting_started.md"
    sections = [s["path"] for s in items[base]["sections"]]
    assert sections == [
        f"{base}/Top",
        f"{base}/Part",
        f"{base}/Deep",
        f"{base}/Part (2)",
        f"{base}/Second top",
    ]
    lines = (out / base).read_text(encoding="utf-8").splitlines()
    top, part, deep, part2, second = (items[p] for p in sections)
    assert (top["start_line"], top["end_line"]) == (1, 24)
    assert (part["start_line"], deep["start_line"], part2["start_line"], second["start_line"]) == (
        14,
        18,
        22,
        25,
    )
    assert lines[part["start_line"] - 1] == "## Part"
    assert part["end_line"] == part2["start_line"] - 1
    assert deep["end_line"] == part["end_line"]
    assert part2["end_line"] == second["start_line"] - 1
    assert second["end_line"] == len(lines)
    assert items[base]["children"] == [f"{base}/Top", f"{base}/Second top"]
    assert top["children"] == [f"{base}/Part", f"{base}/Part (2)"]
    assert part["children"] == [f"{base}/Deep"]
    assert [top["level"], part["level"], deep["level"]] == [1, 2, 3]
    assert deep["tags"] == ["alpha", "beta", "gamma"]


def test_subdirectories_and_untagged_files(tmp_path: Path) -> None:
    index, _ = _build_fixture(
        tmp_path,
        {
            "a.md": "# A\n",
            "sub/inner/b.md": "no headings here\n",
        },
    )
    items = index["items"]
    assert items["soe/docs/"]["children"] == ["soe/docs/a.md", "soe/docs/sub/"]
    assert items["soe/docs/sub/"]["children"] == ["soe/docs/sub/inner/"]
    assert items["soe/docs/sub/inner/"]["children"] == ["soe/docs/sub/inner/b.md"]
    assert items["soe/docs/sub/inner/b.md"]["children"] == []
    assert items["soe/docs/a.md"]["tags"] == []
    assert items["soe/docs/a.md/A"]["end_line"] == 1
    assert index["tags"] == {}


def test_stale_shipped_files_are_removed(tmp_path: Path, builder: ModuleType) -> None:
    _build_fixture(tmp_path, {"a.md": "# A\n", "b.md": "# B\n"})
    (tmp_path / "src" / "b.md").unlink()
    index = builder.build(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out/soe/docs/b.md").exists()
    assert "soe/docs/b.md" not in index["items"]


def test_stored_index_expands_to_the_built_one(tmp_path: Path) -> None:
    files = {"guide_00_getting_started.md": FIXTURE, "sub/b.md": "# B\n## B1\n### B2\n## B3\n"}
    index, out = _build_fixture(tmp_path, files)
    stored = json.loads((out / "soe/docs_index.json").read_text(encoding="utf-8"))
    assert expand_index(stored) == index


def test_shipped_index_is_the_one_built_from_the_sources(builder: ModuleType) -> None:
    assert DOCS_INDEX == builder.build_index(builder.collect_sources(REPO / "docs_src"))


@pytest.mark.parametrize(
    ("text", "tags", "body"),
    [
        ("# T\n", [], "# T\n"),
        ("---\ntags: x\n---\n# T\n", ["x"], "# T\n"),
        ("---\ntags: [x, 'y']\n---\n\n\n# T\n", ["x", "y"], "# T\n"),
        ("---\nnot closed\n# T\n", [], "---\nnot closed\n# T\n"),
    ],
)
def test_split_front_matter(text: str, tags: list[str], body: str, builder: ModuleType) -> None:
    assert builder.split_front_matter(text) == (tags, body)


def test_find_headings_rules(builder: ModuleType) -> None:
    lines = [
        "#NoSpace",
        "####### seven",
        "# One",
        "````",
        "# inside",
        "```",
        "# still",
        "````",
        "``` not ` a fence",
        "## Two  ",
    ]
    assert builder.find_headings(lines) == [(3, 1, "One"), (10, 2, "Two")]
