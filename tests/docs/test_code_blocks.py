"""The docs' code blocks run: Python blocks execute, YAML blocks are valid configs.

Blocks of one page run in order in one namespace and one scratch folder, as a
reader following the page would. A block that is only an excerpt (a node's
keys, a script's fragment, code needing an API key) is marked with an HTML
comment on the line before its fence: ``<!-- fragment: why -->``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from soe import create_all_nodes, orchestrate
from soe.llm import echo
from soe.local_backends import create_in_memory_backends
from soe.validation.config import validate_config
from soe.validation.lint import lint_config

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs_src").rglob("*.md"))]
_FENCE = re.compile(r"^```(?P<lang>\w+)\s*$")
_FRAGMENT = re.compile(r"^<!-- fragment(: .+)? -->$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    fragment: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block with a language, and whether the line before it marks a fragment."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        marked = index > 0 and bool(_FRAGMENT.match(lines[index - 1].strip()))
        found.append(Block(page, index + 1, match.group("lang"), "\n".join(lines[index + 1:end]) + "\n", marked))
        index = end + 1
    return found


def _ids(pages: list[Path]) -> list[str]:
    return [str(page.relative_to(ROOT)) for page in pages]


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_python_blocks_run_in_order(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks(page):
        if block.lang == "python" and not block.fragment:
            try:
                exec(compile(block.code, block.where, "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - reported with the block's place
                pytest.fail(f"{block.where}: {type(exc).__name__}: {exc}")


YAML_BLOCKS = [b for page in PAGES for b in blocks(page) if b.lang == "yaml" and not b.fragment]


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.where for b in YAML_BLOCKS])
def test_yaml_blocks_are_valid_configs_without_lint_errors(block: Block) -> None:
    validate_config(block.code)
    errors = [f.format(block.where) for f in lint_config(block.code) if f.severity == "error"]
    assert errors == []


def test_fragment_markers_mark_a_block() -> None:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if _FRAGMENT.match(line.strip()):
                assert index + 1 < len(lines) and _FENCE.match(lines[index + 1]), f"{page.name}:{index + 1}"


def test_there_are_blocks_to_run() -> None:
    everything = [b for page in PAGES for b in blocks(page)]
    assert sum(b.lang == "python" and not b.fragment for b in everything) >= 15
    assert len(YAML_BLOCKS) >= 15


def _signals(config: str, context: dict) -> list[str]:
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=echo())
    execution_id = orchestrate(config, "example_workflow", ["START"], context, backends, broadcast)
    return backends.context.get_context(execution_id)["__operational__"]["signals"]


def test_the_readme_headline_example_routes_valid_and_invalid_data() -> None:
    headline = next(b for b in blocks(ROOT / "README.md") if b.lang == "yaml")
    valid = _signals(headline.code, {"data": "x"})
    assert "VALID" in valid and "INVALID" not in valid and "DONE" in valid
    invalid = _signals(headline.code, {})
    assert "INVALID" in invalid and "VALID" not in invalid
