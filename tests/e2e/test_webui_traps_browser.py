"""The web UI's data-loss traps and the long answer, tried in a real headless Chromium.

Deleting ticked files leaves nothing else ticked; deleting a conversation closes its popover;
Stop (and sending during an answer) keeps the partial answer, marked, stored as stopped, with the
worker's decoder aborted. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from server.launcher.harness import RunningStack
from tests.e2e.webui_driver import CHAT_INPUT, MESSAGE, MESSAGE_TEXT, open_app, screenshot, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KB = "trap_kb"
LONG_ASK = "Write a very long story about a lighthouse, with many chapters."


RECORD_THINKING = """() => {
  window.__sawThinking = false;
  new MutationObserver(() => {
    const bubbles = document.querySelectorAll('[data-testid="stChatMessage"]');
    const last = bubbles[bubbles.length - 1];
    if (last && last.innerText.includes("thinking…")) window.__sawThinking = true;
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def answer_text(page: Page, index: int):  # noqa: ANN201 - a Playwright locator
    """The written answer in a bubble: markdown, not a caption ("thinking…" and the Stopped note
    are captions, whose container has its own test id) and not the Stop button's label."""
    return (
        page.locator(MESSAGE)
        .nth(index)
        .locator('[data-testid="stMarkdown"] [data-testid="stMarkdownContainer"]')
        .filter(has_text=re.compile(r"\S"))
        .first
    )


def set_max_tokens(page: Page, tokens: int) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Generation settings").click()
    field = sidebar.get_by_role("spinbutton", name="Max tokens")
    field.fill(str(tokens))
    field.press("Enter")
    wait_idle(page)


def greedy(page: Page) -> None:
    """Temperature 0: the tiny model then loops rather than ending early, so there is time to cut it."""
    slider = page.get_by_test_id("stSidebar").get_by_role("slider", name="Temperature")
    slider.focus()
    slider.press("Home")
    wait_idle(page)


def worker_log(stack: RunningStack) -> str:
    return "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))


def stored_messages(stack: RunningStack, conversation_id: str) -> list[dict]:
    return httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=10).json()["data"]


def stored_once(
    stack: RunningStack, conversation_id: str, done: Callable[[list[dict]], bool], within: float = 60
) -> list[dict]:
    """The stored rows as soon as ``done`` holds for them, or as they are at the deadline.

    Stop shows at once, but the backend hears of it later: the script run that was streaming
    stops (and closes its HTTP stream) only at its next chunk, and only then is the answer stored
    as cut short.
    """
    deadline = time.monotonic() + within
    rows = stored_messages(stack, conversation_id)
    while not done(rows) and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = stored_messages(stack, conversation_id)
    return rows


def stopped_first(rows: list[dict]) -> bool:
    return bool(rows) and rows[0]["meta"].get("stopped") is True


def worker_aborted_since(stack: RunningStack, before: int, within: float = 60) -> bool:
    """Whether the worker logged another aborted decode by the deadline (it follows the backend's close)."""
    deadline = time.monotonic() + within
    while worker_log(stack).count("abort after") <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    return worker_log(stack).count("abort after") > before


def settled_box(element) -> dict:  # noqa: ANN001 - a Playwright locator
    """The element's box once the page around it stops moving (a widget above it may still be
    drawn after the script run ends, shifting a canvas whose cells are clicked by position)."""
    box = element.bounding_box()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.25)
        again = element.bounding_box()
        if again == box and box is not None:
            return box
        box = again
    assert box is not None
    return box


def file_table_row(page: Page, row: int, shows: str) -> None:
    """Tick a row of the (canvas-drawn) file table by its selection column, once the table is drawn
    with ``shows`` in it (the script run can end before the browser has laid the canvas out)."""
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible()
    expect(grid).to_contain_text(shows)
    grid.scroll_into_view_if_needed()  # a box read before scrolling is where the table is no more
    box = settled_box(grid)
    grid.hover()
    page.mouse.click(box["x"] + 14, box["y"] + 35 * (row + 1) + 17)
    wait_idle(page)


def test_deleting_a_ticked_file_leaves_no_other_file_ticked(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    api = stack.urls.api
    httpx.post(
        f"{api}/knowledge_base/create_knowledge_base",
        json={"knowledge_base_name": KB, "vector_store_type": "faiss"},
        timeout=60,
    ).raise_for_status()
    files = [("files", (f"{name}.md", f"# {name}\n\nNotes about {name}.\n".encode())) for name in "abc"]
    httpx.post(
        f"{api}/knowledge_base/upload_docs", data={"knowledge_base_name": KB}, files=files, timeout=300
    ).raise_for_status()

    page = browser_page
    page.goto(f"{stack.urls.webui}/knowledge_base")
    wait_idle(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Knowledge base").first.locator("input").click()
    page.get_by_role("option", name=KB, exact=True).click()
    wait_idle(page)
    file_table_row(page, 0, shows="a.md")
    expect(page.get_by_text("1 of 3 selected")).to_be_visible()

    page.get_by_role("button", name="Delete files").click()
    confirm = page.get_by_test_id("stPopoverBody").get_by_role("button", name="Delete")
    expect(page.get_by_test_id("stPopoverBody")).to_contain_text("a.md")  # says what goes
    confirm.click()
    wait_idle(page)
    expect(page.get_by_test_id("stAlert").filter(has_text="Deleted 1 file(s)")).to_be_visible()
    listed = httpx.get(
        f"{api}/knowledge_base/list_files", params={"knowledge_base_name": KB}, timeout=10
    ).json()["data"]
    assert sorted(listed) == ["b.md", "c.md"]
    # Before, b.md moved into the deleted row and was ticked, with Delete live again.
    expect(page.get_by_text("Select rows to act on files.")).to_be_visible()
    expect(page.get_by_role("button", name="Delete files")).to_be_disabled()
    screenshot(page, screenshots_dir / "kb_files_after_delete.png")


def test_the_delete_popover_closes_after_deleting_a_conversation(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    page = browser_page
    for name in ("Older talk", "Newer talk"):
        httpx.post(f"{stack.urls.api}/conversations", json={"name": name}, timeout=10).raise_for_status()
    rows = httpx.get(f"{stack.urls.api}/conversations", timeout=10).json()["data"]
    newer = next(r["id"] for r in rows if r["name"] == "Newer talk")
    page.goto(f"{stack.urls.webui}/?conversation={newer}")
    wait_idle(page)
    sidebar = page.get_by_test_id("stSidebar")
    selected = sidebar.locator('[data-testid="stRadioOption"][data-selected="true"]')
    expect(selected).to_contain_text("Newer talk", timeout=60_000)  # the linked one is open
    sidebar.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete conversation").click()
    wait_idle(page)
    expect(page.get_by_role("button", name="Delete conversation")).to_have_count(0)
    expect(page.get_by_test_id("stPopoverBody")).to_have_count(0)
    assert newer not in {
        r["id"] for r in httpx.get(f"{stack.urls.api}/conversations", timeout=10).json()["data"]
    }
    expect(sidebar.locator('[data-testid="stRadioOption"][data-selected="true"]')).to_have_count(0)
    screenshot(page, screenshots_dir / "conversation_deleted.png")


def test_stop_keeps_the_partial_answer_marked_and_stored_and_the_worker_aborts(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    page = browser_page
    open_app(page, stack.urls.webui)
    greedy(page)
    aborts_before = worker_log(stack).count("abort after")
    page.evaluate(RECORD_THINKING)
    page.locator(CHAT_INPUT).fill(LONG_ASK)
    page.locator(CHAT_INPUT).press("Enter")
    stop = page.locator(MESSAGE).get_by_role("button", name="Stop")
    expect(stop).to_be_visible(timeout=90_000)
    expect(answer_text(page, 1)).to_contain_text(re.compile(r"\w{3}"), timeout=60_000)  # tokens came
    shown = answer_text(page, 1).inner_text()
    stop.click()
    wait_idle(page)
    expect(page.locator(MESSAGE).nth(1)).to_contain_text("Stopped")
    assert page.evaluate("window.__sawThinking"), "no 'thinking…' before the first token"
    expect(stop).to_have_count(0)
    expect(answer_text(page, 1)).to_contain_text(shown.split()[0])  # the partial answer stays in view
    screenshot(page, screenshots_dir / "stopped_answer.png")

    conversation_id = page.evaluate("new URLSearchParams(location.search).get('conversation')")
    (row,) = stored_once(stack, conversation_id, stopped_first)
    assert row["meta"].get("stopped") is True, row
    # What was shown is stored; the backend may have sent a few more tokens the page never drew.
    assert " ".join(shown.split()[:3]) in " ".join(row["response"].split())
    assert worker_aborted_since(stack, aborts_before), "the worker kept decoding"

    page.reload()  # the stored answer comes back marked
    wait_idle(page)
    expect(page.locator(MESSAGE).nth(1)).to_contain_text("Stopped")


def test_sending_during_an_answer_keeps_the_first_exchange_marked_interrupted(
    stack: RunningStack, browser_page: Page
) -> None:
    page = browser_page
    open_app(page, stack.urls.webui)
    greedy(page)
    set_max_tokens(page, 40)  # long enough to be cut, short enough that the second answer ends soon
    page.locator(CHAT_INPUT).fill(LONG_ASK)
    page.locator(CHAT_INPUT).press("Enter")
    expect(answer_text(page, 1)).to_contain_text(re.compile(r"\w{3}"), timeout=60_000)
    page.locator(CHAT_INPUT).fill("Say yes.")
    page.locator(CHAT_INPUT).press("Enter")
    expect(page.locator(MESSAGE)).to_have_count(4, timeout=60_000)
    wait_idle(page, timeout=300_000)
    expect(page.locator(MESSAGE_TEXT).nth(0)).to_have_text(LONG_ASK)
    expect(page.locator(MESSAGE).nth(1)).to_contain_text("Interrupted")
    expect(answer_text(page, 2)).to_have_text("Say yes.")
    conversation_id = page.evaluate("new URLSearchParams(location.search).get('conversation')")
    rows = stored_once(stack, conversation_id, stopped_first)
    assert [r["query"] for r in rows] == [LONG_ASK, "Say yes."]
    assert rows[0]["meta"].get("stopped") is True and rows[0]["response"].strip()


@pytest.mark.parametrize(("path", "shows"), [("/docs", ".opblock-summary"), ("/redoc", "[data-section-id]")])
def test_the_api_docs_render_with_the_network_off(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path, path: str, shows: str
) -> None:
    page = browser_page
    outside: list[str] = []

    def only_this_machine(route) -> None:  # noqa: ANN001 - a Playwright route
        if route.request.url.startswith(stack.urls.api):
            route.continue_()
        else:  # ReDoc's footer badge image is the one thing left outside; it is not needed
            if route.request.resource_type != "image":
                outside.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_this_machine)
    page.goto(f"{stack.urls.api}{path}")
    expect(page.locator(shows).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("/chat/chat").first).to_be_visible()
    assert not outside, f"{path} reached outside this machine: {outside}"
    page.screenshot(path=screenshots_dir / f"api{path.replace('/', '_')}.png")
