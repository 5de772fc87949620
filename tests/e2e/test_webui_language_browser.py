"""A Chinese-speaking user in real Chromium (``Accept-Language: zh-CN``): the UI follows the
browser's language end to end, the switch turns it English, every page is screenshotted in both.

Screenshots land in ``test-artifacts/screenshots/`` as ``<page>-<language>.png``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from server.launcher.harness import RunningStack
from tests.e2e.conftest import VIEWPORT
from tests.e2e.webui_driver import CHAT_INPUT, MESSAGE, screenshot, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PAGES = {  # url path: (English title, Chinese title)
    "dialogue": ("Dialogue", "对话"),
    "knowledge_base": ("Knowledge bases", "知识库"),
    "models": ("Models", "模型"),
    "mcp": ("MCP connections", "MCP 连接"),
}


@pytest.fixture
def chinese_page(chromium: Browser):  # noqa: ANN201 - a Playwright page
    """A browser whose language is Chinese: ``navigator.language`` and ``Accept-Language`` are zh-CN."""
    expect.set_options(timeout=30_000)
    context = chromium.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def _open(page: Page, url: str, new_label: str) -> None:
    page.goto(url)
    expect(page.locator(CHAT_INPUT)).to_be_visible()
    wait_idle(page)
    button = page.get_by_test_id("stSidebar").get_by_role("button", name=new_label)
    if button.count():
        button.click()
        wait_idle(page)


def test_a_chinese_browser_gets_the_chinese_ui_end_to_end_and_can_switch_to_english(
    stack: RunningStack, chinese_page: Page, screenshots_dir: Path
) -> None:
    page = chinese_page
    _open(page, stack.urls.webui, "新建会话")
    expect(page.get_by_role("heading", name="对话")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("对话模式")).to_be_visible()
    expect(page.locator(CHAT_INPUT)).to_have_attribute("placeholder", "请输入对话内容（Enter 发送）")

    sidebar.get_by_text("生成设置").click()
    max_tokens = sidebar.get_by_role("spinbutton", name="最大 token 数")
    max_tokens.fill("8")
    max_tokens.press("Enter")
    wait_idle(page)
    before = page.locator(MESSAGE).count()
    page.locator(CHAT_INPUT).fill("你好")
    page.locator(CHAT_INPUT).press("Enter")
    answer = page.locator(MESSAGE).nth(before + 1)
    expect(answer.get_by_role("button", name="重新生成")).to_be_visible(timeout=120_000)
    wait_idle(page)
    expect(sidebar.get_by_text("今天")).to_be_visible()  # the conversation list's date group
    screenshot(page, screenshots_dir / "dialogue-zh.png")

    for path, (_, chinese) in PAGES.items():
        if path == "dialogue":
            continue
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=chinese).click()
        expect(page.get_by_role("heading", name=chinese)).to_be_visible()
        wait_idle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        screenshot(page, screenshots_dir / f"{path}-zh.png")

    # The switch: every label turns English, and stays so on the next page.
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Language / 语言").click()
    page.get_by_role("option", name="English").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="MCP connections")).to_be_visible()
    for path, (english, _) in PAGES.items():
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=english).click()
        expect(page.get_by_role("heading", name=english)).to_be_visible()
        wait_idle(page)
        screenshot(page, screenshots_dir / f"{path}-en.png")
