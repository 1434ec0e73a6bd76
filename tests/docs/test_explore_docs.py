"""``soe_explore_docs``: every action and error path of the SPEC §10.3 table, exact strings.

Why: agents parse these strings, so each message and rendering rule is pinned. Most cases run
against a small index generated from a fixture tree (predictable output); a few smoke tests
run against the shipped guide.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import typing
from pathlib import Path
from types import ModuleType

import pytest

explore = importlib.import_module("soe.builtin_tools.soe_explore_docs")
soe_explore_docs = explore.soe_explore_docs
REPO = Path(__file__).resolve().parents[2]

FIXTURE_GUIDE = """---
tags: start, intro
---

# Start

Intro line.

## Install

pip

```bash
# not a heading
```

## Install

second
"""

FIXTURE_DEEP = """---
tags: deep
---
# Deep

body

## Part

part text
"""


def _load_builder() -> ModuleType:
    name = "soe_build_docs_index_for_explore"
    script = REPO / "scripts" / "build_docs_index.py"
    if not script.is_file():
        pytest.skip("scripts/build_docs_index.py not present (installed package)")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO / "scripts" / "build_docs_index.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def fake_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A generated index over a tiny tree, installed in place of the shipped one."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "guide_00_getting_started.md").write_text(FIXTURE_GUIDE, encoding="utf-8")
    (src / "sub" / "deep.md").write_text(FIXTURE_DEEP, encoding="utf-8")
    out = tmp_path / "out"
    index = _load_builder().build(src, out)
    monkeypatch.setattr(explore, "DOCS_INDEX", index)
    monkeypatch.setattr(explore, "DOCS_ROOT", out)
    return out


GUIDE = "soe/docs/guide_00_getting_started.md"
DEEP = "soe/docs/sub/deep.md"


# --------------------------------------------------------------------------- API shape


def test_signature_and_factory() -> None:
    sig = inspect.signature(soe_explore_docs)
    assert list(sig.parameters) == ["path", "action", "query", "tag"]
    assert sig.parameters["path"].default is inspect.Parameter.empty
    assert sig.parameters["action"].default is inspect.Parameter.empty
    assert sig.parameters["query"].default is None and sig.parameters["tag"].default is None
    action = sig.parameters["action"].annotation
    assert typing.get_origin(action) is typing.Literal
    assert typing.get_args(action) == ("list", "read", "search", "tree", "get_tags")
    assert sig.parameters["path"].annotation is str
    assert soe_explore_docs.__name__ == "soe_explore_docs"
    assert inspect.getdoc(soe_explore_docs)
    assert explore.create_soe_explore_docs_tool() is soe_explore_docs
    assert explore.create_soe_explore_docs_tool("eid", object(), {}) is soe_explore_docs
    assert (
        explore.create_soe_explore_docs_tool(execution_id="x", backends=None, tools_registry=None)
        is soe_explore_docs
    )


def test_docs_root_contains_the_package() -> None:
    assert (explore.DOCS_ROOT / "soe" / "__init__.py").is_file()


def test_unknown_action(fake_docs: Path) -> None:
    assert soe_explore_docs("soe/docs", "delete") == "Error: Unknown action 'delete'"


# --------------------------------------------------------------------------- list


def test_list_default_and_slash_paths(fake_docs: Path) -> None:
    expected = "[FILE] guide_00_getting_started.md\n[DIR] sub/"
    for path in ("", "/", "soe/docs", "/soe/docs/", "soe/docs/"):
        assert soe_explore_docs(path, "list") == expected


def test_list_root_children_and_empty_dir(fake_docs: Path) -> None:
    assert soe_explore_docs(".", "list") == "[DIR] docs/"
    assert soe_explore_docs("docs", "list") == "(empty)"
    assert soe_explore_docs("soe", "list") == "[DIR] docs/"


def test_list_file_and_section(fake_docs: Path) -> None:
    assert soe_explore_docs(GUIDE, "list") == "[SEC] Start"
    assert soe_explore_docs(GUIDE + "/Start", "list") == "[SEC] Install\n[SEC] Install (2)"
    assert soe_explore_docs(GUIDE + "/Install", "list") == "(empty)"
    assert soe_explore_docs("soe/docs/sub", "list") == "[FILE] deep.md"


def test_list_unknown(fake_docs: Path) -> None:
    assert soe_explore_docs("/nope/", "list") == "Error: Path 'nope' not found in index."


# --------------------------------------------------------------------------- read


def test_read_file_returns_whole_stripped_text(fake_docs: Path) -> None:
    text = soe_explore_docs(GUIDE, "read")
    assert text == (fake_docs / GUIDE).read_text(encoding="utf-8")
    assert text.startswith("# Start\n")


def test_read_section_lines(fake_docs: Path) -> None:
    assert (
        soe_explore_docs(GUIDE + "/Install", "read")
        == "## Install\n\npip\n\n```bash\n# not a heading\n```\n"
    )
    assert soe_explore_docs(GUIDE + "/Install (2)", "read") == "## Install\n\nsecond"
    assert soe_explore_docs("/" + DEEP + "/Part/", "read") == "## Part\n\npart text"


def test_read_directory_errors(fake_docs: Path) -> None:
    for path in ("soe/docs", "/", "", "soe/docs/sub/", "docs"):
        assert soe_explore_docs(path, "read") == (
            f"Error: '{path}' is a directory. Use action='list' or 'tree'."
        )


def test_read_unknown_path_uses_original_path(fake_docs: Path) -> None:
    assert soe_explore_docs("/missing.md", "read") == "Error: Path '/missing.md' not found."


def test_read_missing_file(fake_docs: Path) -> None:
    (fake_docs / DEEP).unlink()
    full = fake_docs / DEEP
    expected = f"Error: File not found at '{full}'. The docs index may be out of date."
    assert soe_explore_docs(DEEP, "read") == expected
    assert soe_explore_docs(DEEP + "/Part", "read") == expected


# --------------------------------------------------------------------------- tree


def test_tree_root_and_paths(fake_docs: Path) -> None:
    assert soe_explore_docs(".", "tree") == "[D] docs"
    assert (
        soe_explore_docs("soe/docs/sub", "tree")
        == "[D] sub\n  [F] deep.md\n    [S] Deep\n      [S] Part"
    )
    assert soe_explore_docs("/", "tree") == "\n".join(
        [
            "[D] docs",
            "  [F] guide_00_getting_started.md",
            "    [S] Start",
            "      [S] Install",
            "      [S] Install (2)",
            "  [D] sub",
            "    [F] deep.md",
            "      [S] Deep",
            "        [S] Part",
        ]
    )
    assert soe_explore_docs(DEEP + "/Part", "tree") == "[S] Part"


def test_tree_unknown(fake_docs: Path) -> None:
    assert soe_explore_docs("soe/nope/", "tree") == "Error: Path 'soe/nope' not found."


# --------------------------------------------------------------------------- search


def test_search_requires_query_or_tag(fake_docs: Path) -> None:
    assert soe_explore_docs("", "search") == "Error: Provide 'query' or 'tag' for search."
    assert (
        soe_explore_docs("", "search", query="", tag="")
        == "Error: Provide 'query' or 'tag' for search."
    )


def test_search_unknown_tag(fake_docs: Path) -> None:
    assert soe_explore_docs("", "search", tag="zzz") == "No results for tag 'zzz'"
    assert soe_explore_docs("", "search", query="deep", tag="zzz") == "No results for tag 'zzz'"


def test_search_query_words(fake_docs: Path) -> None:
    assert soe_explore_docs("", "search", query="How to INSTALL") == (
        f"{GUIDE}/Install\n{GUIDE}/Install (2)"
    )


def test_search_drops_sections_whose_file_matched(fake_docs: Path) -> None:
    assert soe_explore_docs("", "search", query="x deep") == DEEP
    assert soe_explore_docs("", "search", query="sub") == f"soe/docs/sub/\n{DEEP}"


def test_search_by_tag(fake_docs: Path) -> None:
    assert soe_explore_docs("", "search", tag="deep") == DEEP
    assert soe_explore_docs("", "search", query="part", tag="deep") == f"{DEEP}/Part"
    assert (
        soe_explore_docs("", "search", query="install", tag="deep")
        == "No results found for: ['install']"
    )


def test_search_no_results_messages(fake_docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert soe_explore_docs("", "search", query="zebra quantum") == (
        "No results found for: ['zebra', 'quantum']"
    )
    assert soe_explore_docs("", "search", query="The A") == "No results found for: ['the a']"
    index = dict(explore.DOCS_INDEX, tags={"empty": []})
    monkeypatch.setattr(explore, "DOCS_INDEX", index)
    assert soe_explore_docs("", "search", tag="empty") == "No results found for: empty"


def test_search_truncates_after_twenty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for number in range(25):
        (src / f"topic_{number:02d}.md").write_text(f"# Heading {number}\n", encoding="utf-8")
    index = _load_builder().build(src, tmp_path / "out")
    monkeypatch.setattr(explore, "DOCS_INDEX", index)
    result = soe_explore_docs("", "search", query="topic").split("\n")
    assert result[:20] == [f"soe/docs/topic_{n:02d}.md" for n in range(20)]
    assert result[20:] == ["... and 5 more results"]


# --------------------------------------------------------------------------- get_tags


def test_get_tags(fake_docs: Path) -> None:
    assert soe_explore_docs("anything", "get_tags") == "Available tags: ['deep', 'intro', 'start']"


# --------------------------------------------------------------------------- shipped guide


def test_shipped_guide_smoke() -> None:
    listing = soe_explore_docs("/", "list").split("\n")
    assert "[FILE] guide_00_getting_started.md" in listing
    assert "[DIR] advanced_patterns/" in listing
    assert soe_explore_docs("soe/docs/advanced_patterns", "list") == (
        "[FILE] hybrid.md\n[FILE] self_evolving.md\n[FILE] swarm.md"
    )
    section = soe_explore_docs("soe/docs/guide_01_router.md/Keys", "read")
    assert section.startswith("## Keys\n")
    assert soe_explore_docs("soe/docs/guide_00_getting_started.md", "read").startswith(
        "# Getting Started"
    )
    assert soe_explore_docs("", "get_tags").startswith("Available tags: ['")
    assert "soe/docs/guide_05_child.md" in soe_explore_docs("", "search", query="child")
    assert soe_explore_docs("", "tree").startswith("[D] docs\n  [F] GUIDE.md\n")
