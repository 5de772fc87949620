"""How the browser tests work a Streamlit page: wait on the app's own run state, never on time."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

CHAT_INPUT = '[data-testid="stChatInput"] textarea'
MESSAGE = '[data-testid="stChatMessage"]'
MESSAGE_TEXT = '[data-testid="stChatMessage"] [data-testid="stMarkdownContainer"]'


def wait_idle(page: Page, timeout: float = 120_000) -> None:
    """Until the current script run has finished (Streamlit marks it on the root element)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator(CHAT_INPUT)).to_be_visible()
    wait_idle(page)


def send(page: Page, text: str) -> Locator:
    """Send one chat message and return the answer bubble once the answer has fully streamed."""
    before = page.locator(MESSAGE).count()
    page.locator(CHAT_INPUT).fill(text)
    page.locator(CHAT_INPUT).press("Enter")
    answer = page.locator(MESSAGE).nth(before + 1)
    expect(answer).to_be_visible()
    wait_idle(page)
    return answer
