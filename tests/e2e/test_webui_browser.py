"""A user in a real headless Chromium: chat with streamed answers, conversations, export, every page.

Each test leaves a 1280x800 screenshot under ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from configs import PROJECT_ROOT
from server.launcher.harness import RunningStack, free_port
from tests.e2e.webui_driver import CHAT_INPUT, MESSAGE, MESSAGE_TEXT, open_app, screenshot, send, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

RECORD_ANSWER_LENGTHS = """(first) => {
  window.__answerLengths = [];
  new MutationObserver(() => {
    const bubbles = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (bubbles.length > first) window.__answerLengths.push(bubbles[first].innerText.length);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_a_chat_message_gets_an_answer_that_streams_in(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    page = browser_page
    open_app(page, stack.urls.webui)
    expect(page.get_by_role("heading", name="Dialogue")).to_be_visible()
    existing = page.locator(MESSAGE).count()
    page.evaluate(RECORD_ANSWER_LENGTHS, existing + 1)

    answer = send(page, "Write two sentences about the sea.")

    expect(page.locator(MESSAGE_TEXT).nth(existing)).to_have_text("Write two sentences about the sea.")
    text = answer.locator('[data-testid="stMarkdownContainer"]').first.inner_text()
    assert text.strip()
    lengths = [n for n in page.evaluate("window.__answerLengths") if n > len("smart_toy")]
    assert len(set(lengths)) >= 2, f"the answer arrived in one piece, not streamed: {lengths}"
    expect(page.locator(CHAT_INPUT)).to_be_enabled()
    screenshot(page, screenshots_dir / "dialogue.png")


def test_the_conversation_exports_as_markdown(
    stack: RunningStack, browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    open_app(page, stack.urls.webui)
    send(page, "Name a colour.")
    with page.expect_download() as download_info:
        page.get_by_test_id("stSidebar").get_by_role("button", name="Export").click()
    saved = tmp_path / "export.md"
    download_info.value.save_as(saved)
    markdown = saved.read_text(encoding="utf-8")
    assert download_info.value.suggested_filename.endswith(".md")
    assert "Name a colour." in markdown
    assert markdown.lstrip().startswith("#")


def test_a_new_conversation_starts_empty_and_the_old_one_comes_back(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    page = browser_page
    open_app(page, stack.urls.webui)
    send(page, "Remember the word kumquat.")
    sidebar = page.get_by_test_id("stSidebar")
    options = sidebar.get_by_test_id("stRadioOption")
    first_name = options.and_(sidebar.locator('[data-selected="true"]')).inner_text().strip()
    first = options.filter(has=page.get_by_text(first_name, exact=True))
    expect(first).to_have_attribute("data-selected", "true")

    sidebar.get_by_role("button", name="New conversation").click()
    wait_idle(page)
    expect(page.locator(MESSAGE)).to_have_count(0)
    expect(first).not_to_have_attribute("data-selected", "true")

    first.click()
    wait_idle(page)
    expect(page.locator(MESSAGE_TEXT).first).to_have_text("Remember the word kumquat.")
    expect(first).to_have_attribute("data-selected", "true")

    page.reload()  # a reload shows the stored history, not a blank page
    expect(page.locator(CHAT_INPUT)).to_be_visible()
    wait_idle(page)
    expect(page.locator(MESSAGE_TEXT).first).to_have_text("Remember the word kumquat.", timeout=60_000)
    expect(first).to_have_attribute("data-selected", "true")
    screenshot(page, screenshots_dir / "conversations.png")


@pytest.mark.parametrize(
    ("title", "shot"), [("Models", "models.png"), ("Knowledge bases", "knowledge_base.png")]
)
def test_each_page_opens_from_the_navigation(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path, title: str, shot: str
) -> None:
    page = browser_page
    open_app(page, stack.urls.webui)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    wait_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, screenshots_dir / shot)


def test_a_stopped_backend_shows_a_banner_with_retry(browser_page: Page, screenshots_dir: Path) -> None:
    port = free_port()
    dead_backend = f"http://127.0.0.1:{free_port()}"
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(PROJECT_ROOT / "webui" / "app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "minimal",
            "--",
            "--api-url",
            dead_backend,
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and ui.poll() is None, "streamlit did not start"
            time.sleep(0.2)
        page = browser_page
        page.goto(f"http://127.0.0.1:{port}")
        expect(page.get_by_test_id("stAlert").filter(has_text="not reachable")).to_be_visible()
        expect(page.get_by_test_id("stAlert")).to_contain_text(dead_backend)
        retry = page.get_by_role("button", name="Retry")
        expect(retry).to_be_visible()
        retry.click()
        wait_idle(page)
        expect(page.get_by_test_id("stAlert").filter(has_text="not reachable")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        screenshot(page, screenshots_dir / "backend_down.png")
    finally:
        ui.terminate()
        ui.wait(10)


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``.

    A rerun that redraws the sidebar while the list opens closes it again, so the list is opened
    anew (up to three times) when its options do not show.
    """
    wait_idle(page)
    for attempt in range(3):
        page.get_by_test_id("stSelectbox").filter(has_text=label).first.locator("input").click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=8000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            wait_idle(page)
    wait_idle(page)


def test_a_knowledge_base_answers_with_its_sources(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    kb = "browser-kb"
    page = browser_page
    open_app(page, stack.urls.webui)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Knowledge bases").click()
    expect(page.get_by_role("heading", name="Knowledge bases")).to_be_visible()
    wait_idle(page)
    choose(page, "Knowledge base", "+ New knowledge base")
    page.get_by_role("textbox", name="Name").fill(kb)
    page.get_by_role("button", name="Create").click()
    wait_idle(page)
    expect(page.get_by_test_id("stAlert").filter(has_text=f"Created knowledge base {kb}")).to_be_visible()

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[
            {
                "name": "lighthouse.md",
                "mimeType": "text/markdown",
                "buffer": b"# Lighthouse log\n\nThe Qarvel lighthouse keeper feeds the seagulls at dawn.\n",
            }
        ]
    )
    wait_idle(page)
    page.get_by_role("button", name="Add to knowledge base").click()
    wait_idle(page)
    expect(page.get_by_test_id("stAlert").filter(has_text=f"Added 1 file(s) to {kb}")).to_be_visible()
    screenshot(page, screenshots_dir / "knowledge_base_files.png")

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Dialogue").click()
    wait_idle(page)
    choose(page, "Chat mode", "Knowledge-base chat")
    choose(page, "Knowledge base", kb)
    answer = send(page, "When does the Qarvel lighthouse keeper feed the seagulls?")
    sources = answer.get_by_test_id("stExpander").filter(has_text="Sources")
    expect(sources).to_be_visible()
    sources.locator("summary").click()
    expect(sources).to_contain_text("lighthouse.md")
    expect(sources).to_contain_text("seagulls at dawn")
    expect(sources.get_by_role("link", name="lighthouse.md")).to_have_attribute(
        "href", re.compile("download_doc")
    )
    screenshot(page, screenshots_dir / "knowledge_base_chat.png")
    httpx.post(f"{stack.urls.api}/knowledge_base/delete_knowledge_base", json=kb, timeout=30)
