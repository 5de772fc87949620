"""Accounts in a real headless Chromium: the first sign-up is the admin, a second one waits for the
admin's approval, then chats; sign-out; a token that stops working sends the user back to sign in
without losing the message they typed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from server.launcher.harness import RunningStack, start_stack
from tests.e2e.webui_driver import CHAT_INPUT, MESSAGE, MESSAGE_TEXT, screenshot, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack with accounts on and no account yet, as after installing."""
    env = {
        "CHATCHAT_AUTH__ENABLED": "true",
        "CHATCHAT_SEARCH__DUCKDUCKGO__ENABLED": "false",
        "CHATCHAT_MAX_TOKENS": "32",  # this story is about accounts: short answers keep it quick on busy CPUs
    }
    running = start_stack(tmp_path_factory.mktemp("fresh"), ("--all",), env=env)
    yield running
    running.stop()


def sign_up(page: Page, email: str, password: str, button: str) -> None:
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name=button))
    form.get_by_label("Email").fill(email)
    form.get_by_role("textbox", name="Password (at least 8 characters)").fill(password)
    form.get_by_role("button", name=button).click()
    wait_idle(page)


def sign_in(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Sign in"))
    form.get_by_label("Email").fill(email)
    form.get_by_role("textbox", name="Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()
    wait_idle(page)


def sign_out(page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stPopover").click()
    page.get_by_role("button", name="Sign out").click()
    wait_idle(page)


def test_admin_first_then_an_approved_user_chats_and_an_ended_session_keeps_the_message(
    fresh_install: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    page, stack = browser_page, fresh_install
    page.goto(stack.urls.webui)
    expect(page.get_by_role("heading", name="Create the admin account")).to_be_visible()
    screenshot(page, screenshots_dir / "accounts-first-visit.png")
    assert httpx.get(f"{stack.urls.api}/conversations", timeout=10).status_code == 401

    sign_up(page, "admin@example.com", "admin-password", "Create the admin account")
    expect(page.locator(CHAT_INPUT)).to_be_visible()
    sidebar = page.get_by_test_id("stSidebarNav")
    expect(sidebar.get_by_text("Users")).to_be_visible()  # an admin
    expect(sidebar.get_by_text("API keys")).to_be_visible()
    sign_out(page)

    page.get_by_role("tab", name="Create account").click()
    sign_up(page, "bea@example.com", "bea-password", "Create account")
    expect(page.get_by_text("waiting for an admin's approval")).to_be_visible()
    screenshot(page, screenshots_dir / "accounts-pending.png")
    sign_out(page)

    sign_in(page, "admin@example.com", "admin-password")
    page.get_by_test_id("stSidebarNav").get_by_text("Users").click()
    wait_idle(page)
    expect(page.get_by_text("1 account(s) waiting for approval.")).to_be_visible()
    screenshot(page, screenshots_dir / "accounts-users.png")
    page.get_by_role("button", name="Approve").click()
    wait_idle(page)
    expect(page.get_by_text("waiting for approval")).to_have_count(0)
    sign_out(page)

    sign_in(page, "bea@example.com", "bea-password")
    expect(page.locator(CHAT_INPUT)).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Users")).to_have_count(0)  # not an admin
    page.locator(CHAT_INPUT).fill("Say hello.")
    page.locator(CHAT_INPUT).press("Enter")
    expect(page.locator(MESSAGE)).to_have_count(2)
    wait_idle(page)
    assert page.locator(MESSAGE_TEXT).nth(1).inner_text().strip()

    # Her token stops working (signed out everywhere, as when it expires): her next message
    # sends her to sign in, and once she has, that message is answered.
    token = httpx.post(
        f"{stack.urls.api}/auth/token", data={"username": "bea@example.com", "password": "bea-password"}
    ).json()["access_token"]
    assert (
        httpx.post(f"{stack.urls.api}/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    page.locator(CHAT_INPUT).fill("What colour is the sky?")
    page.locator(CHAT_INPUT).press("Enter")
    expect(page.get_by_text("Your session has ended")).to_be_visible()
    screenshot(page, screenshots_dir / "accounts-session-ended.png")
    sign_in(page, "bea@example.com", "bea-password")
    expect(page.locator(MESSAGE_TEXT).filter(has_text="What colour is the sky?")).to_have_count(1)
    wait_idle(page)
    screenshot(page, screenshots_dir / "accounts-message-kept.png")
