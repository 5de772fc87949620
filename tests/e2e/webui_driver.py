"""How the browser tests work a Streamlit page: wait on the app's own run state, never on time."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

CHAT_INPUT = '[data-testid="stChatInput"] textarea'
MESSAGE = '[data-testid="stChatMessage"]'
# Message text only: not the labels of the buttons under a message (Copy, Regenerate, Edit)
MESSAGE_TEXT = '[data-testid="stChatMessage"] [data-testid="stMarkdownContainer"]:not(button *)'


def wait_idle(page: Page, timeout: float = 120_000) -> None:
    """Until the current script run has finished (Streamlit marks it on the root element)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout
    )


def screenshot(page: Page, path) -> None:
    """A screenshot of the settled page: script finished and no placeholder skeleton left."""
    wait_idle(page)
    expect(page.locator('[data-testid^="stSkeleton"]')).to_have_count(0)
    page.screenshot(path=path)


def open_app(page: Page, url: str, *, new_conversation: bool = True) -> None:
    """Open the Dialogue page; by default in a new conversation (a new tab continues the newest one)."""
    page.goto(url)
    expect(page.locator(CHAT_INPUT)).to_be_visible()
    wait_idle(page)
    if new_conversation:  # waited for: the sidebar may draw after the chat input
        button = page.get_by_test_id("stSidebar").get_by_role("button", name="New conversation")
        expect(button).to_be_visible(timeout=60_000)
        button.click()
        wait_idle(page)
        expect(page.locator(MESSAGE)).to_have_count(0)


def send(page: Page, text: str) -> Locator:
    """Send one chat message and return the answer bubble once the answer has fully streamed."""
    before = page.locator(MESSAGE).count()
    page.locator(CHAT_INPUT).fill(text)
    page.locator(CHAT_INPUT).press("Enter")
    answer = page.locator(MESSAGE).nth(before + 1)
    expect(answer).to_be_visible()
    wait_idle(page)
    return answer
