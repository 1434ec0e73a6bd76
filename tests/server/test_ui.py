"""The web UI in a real browser: Playwright driving Debian's Chromium against a real ``soe serve``.

Screenshots are saved under ``artifacts/ui/`` (git-ignored) as test artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serving import API_KEY, running_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"
TIMEOUT_MS = 20_000

REVIEW = """\
review:
  Draft:
    node_type: tool
    tool_name: pause
    parameters: {seconds: 0.01}
    output_field: draft
    event_triggers: [START]
    event_emissions: [{signal_name: DRAFTED}]
  Decide:
    node_type: router
    event_triggers: [APPROVED, REJECTED]
    event_emissions:
      - signal_name: PUBLISHED
        condition: "{{ context.answer == 'yes' }}"
"""


@pytest.fixture
def server(tmp_path):
    """An open server (no keys, loopback only)."""
    yield from running_server(tmp_path)


@pytest.fixture
def keyed_server(tmp_path):
    """A server whose /v1 routes need ``Authorization: Bearer <API_KEY>``."""
    yield from running_server(tmp_path, keyed=True)


def _unavailable(message: str) -> None:
    """Skip with the reason, except in CI, where a missing browser is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"Debian's Chromium is not installed at {CHROMIUM} (scripts/bootstrap.sh installs it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (it is in the dev extra)")

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    opened.console_errors = []
    opened.on("console", lambda message: message.type == "error" and opened.console_errors.append(message.text))
    yield opened
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def timeline_size(page) -> int:
    return page.locator("#timeline li").count()


def test_ui_list_to_execution_page_with_live_timeline_and_graph(server, page):
    execution_id = server.start(REVIEW)
    server.wait_for(execution_id, "waiting")
    page.goto(server.url + "/")
    link = page.get_by_role("link", name=execution_id)
    link.wait_for()
    row = page.locator("#executions tbody tr", has=link)
    assert row.locator(".status").inner_text() == "waiting"
    assert "APPROVED, REJECTED" in row.inner_text()
    page.select_option("#status-filter", "completed")
    link.wait_for(state="detached")  # filtered out
    page.select_option("#status-filter", "waiting")
    link.wait_for()
    screenshot(page, "list")
    link.click()
    page.wait_for_url(f"**/executions/{execution_id}")
    page.locator("#status.waiting").wait_for()
    assert page.locator("#waiting-for").inner_text() == "APPROVED, REJECTED"
    page.locator("#graph svg").wait_for()  # Mermaid rendered the workflow in the page
    drawn = page.locator("#graph svg").text_content()
    assert "Draft" in drawn and "APPROVED" in drawn  # the answers it waits for enter from the start
    page.locator("#timeline li").first.wait_for()
    before = timeline_size(page)
    assert page.locator("#context").inner_text().count("rested") == 1

    # answered from outside: the open page follows the execution without reloading
    server.request("POST", f"/v1/executions/{execution_id}/signals",
                   {"signals": ["APPROVED"], "context": {"answer": "yes"}})
    page.locator("#timeline li").nth(before).wait_for()  # a new entry arrived on the open page
    page.locator("#status.completed").wait_for()
    page.locator("#stream-state", has_text="finished").wait_for()
    timeline = page.locator("#timeline").inner_text()
    assert "APPROVED" in timeline and "PUBLISHED" in timeline
    ids = [int(i) for i in page.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.id)")]
    assert ids == list(range(len(ids)))  # no gap, no repeat
    assert page.console_errors == []  # nothing refused by the content security policy, no script error
    screenshot(page, "execution-live")


def test_ui_openapi_page_works_offline(server, page):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/docs")
    page.locator(".swagger-ui .opblock", has_text="/v1/executions/{execution_id}/signals").first.wait_for()
    assert requested and all(url.startswith(server.url) for url in requested)  # no CDN
    screenshot(page, "openapi")


def test_ui_waiting_execution_answered_through_the_form_turns_completed(server, page):
    execution_id = server.start(REVIEW)
    server.wait_for(execution_id, "waiting")
    page.goto(f"{server.url}/executions/{execution_id}")
    page.locator("#status.waiting").wait_for()
    assert page.locator("#signal-name option").all_inner_texts() == ["APPROVED", "REJECTED", "START"]
    page.select_option("#signal-name", "APPROVED")
    page.fill(".field-name", "answer")
    page.fill(".field-value", "yes")
    screenshot(page, "signal-form")
    page.click("#send-signal")
    page.locator("#status.completed").wait_for()
    page.locator("#context", has_text='"yes"').wait_for()
    found = server.request("GET", f"/v1/executions/{execution_id}").json()
    assert found["status"] == "completed" and found["context"]["answer"] == "yes"
    assert found["operational"]["signals"][-2:] == ["APPROVED", "PUBLISHED"]
    screenshot(page, "signal-answered")


def test_ui_revisions_show_a_diff_and_roll_back(server, page):
    evolving = REVIEW + """\
  Grow:
    node_type: tool
    tool_name: soe_inject_node
    event_triggers: [DRAFTED]
    parameters:
      workflow_name: review
      node_name: Extra
      node_config_data: '{"node_type": "router", "event_triggers": ["LATER"], "event_emissions": [{"signal_name": "X"}]}'
"""
    execution_id = server.start(evolving)
    server.wait_for(execution_id, "waiting")
    page.goto(f"{server.url}/executions/{execution_id}")
    page.locator("#revisions li").nth(1).wait_for()
    page.locator("#revisions li").nth(1).get_by_role("button", name="Diff").click()
    page.locator("#revision-diff", has_text="/review/Extra").wait_for()
    page.get_by_role("button", name="Roll back to 0").click()
    page.locator("#revisions li").nth(2).wait_for()
    revisions = server.request("GET", f"/v1/executions/{execution_id}/revisions").json()
    assert [r["operation"] for r in revisions] == ["orchestrate", "soe_inject_node", "rollback_registry"]
    screenshot(page, "revisions")


def test_ui_asks_for_the_key_and_keeps_it_for_the_tab_only(keyed_server, page):
    execution_id = keyed_server.start(REVIEW)
    page.goto(keyed_server.url + "/")
    page.locator("#key-view").wait_for()
    page.fill("#key-input", "wrong-key-0123456789")
    page.click("#key-form button")
    page.locator("#key-error", has_text="refused").wait_for()
    page.fill("#key-input", API_KEY)
    page.click("#key-form button")
    page.get_by_role("link", name=execution_id).wait_for()
    assert page.evaluate("sessionStorage.getItem('soe-api-key')") == API_KEY
    assert page.evaluate("localStorage.length") == 0
    other_tab = page.context.new_page()
    other_tab.goto(keyed_server.url + "/")
    other_tab.locator("#key-view").wait_for()  # a new tab asks again
    screenshot(other_tab, "key-form")
