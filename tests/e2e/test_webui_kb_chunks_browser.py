"""A knowledge-base owner in real Chromium opens a file's chunks, corrects one and saves it: the
retriever then finds the corrected text (the chunk was embedded again), and only that chunk changed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from server.launcher.harness import RunningStack
from tests.e2e.test_webui_traps_browser import file_table_row
from tests.e2e.webui_driver import screenshot, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KB = "chunk_editing"
DOCUMENT = "# Pumps\n\nThe bilge pump is checked every Monday.\n"


def chunks(api: str) -> list[dict]:
    body = {"knowledge_base_name": KB, "query": "", "file_name": "pumps.md"}
    return httpx.post(f"{api}/knowledge_base/search_docs", json=body, timeout=30).json()


def test_a_chunk_edited_in_the_page_is_saved_and_embedded_again(
    stack: RunningStack, browser_page: Page, screenshots_dir: Path
) -> None:
    api = stack.urls.api
    httpx.post(
        f"{api}/knowledge_base/create_knowledge_base",
        json={"knowledge_base_name": KB, "vector_store_type": "faiss"},
        timeout=60,
    ).raise_for_status()
    httpx.post(
        f"{api}/knowledge_base/upload_docs",
        data={"knowledge_base_name": KB},
        files=[("files", ("pumps.md", DOCUMENT.encode()))],
        timeout=300,
    ).raise_for_status()
    before = chunks(api)
    assert before and "Monday" in before[0]["page_content"]

    page = browser_page
    page.goto(f"{stack.urls.webui}/knowledge_base")
    wait_idle(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Knowledge base").first.locator("input").click()
    page.get_by_role("option", name=KB, exact=True).click()
    wait_idle(page)
    file_table_row(page, 0, shows="pumps.md")
    page.get_by_test_id("stExpander").filter(has_text="Chunks of pumps.md").locator("summary").click()
    editor = (
        page.get_by_test_id("stExpander").filter(has_text="Chunks of pumps.md").get_by_test_id("stDataFrame")
    )
    expect(editor).to_contain_text("Monday")
    wait_idle(page)
    editor.scroll_into_view_if_needed()
    box = editor.bounding_box()
    assert box is not None
    editor.hover()
    page.mouse.dblclick(box["x"] + box["width"] * 0.6, box["y"] + 35 + 17)  # the first chunk's text
    cell = page.locator("#portal textarea")  # the grid's cell editor
    expect(cell).to_be_visible()
    # Typed into the editor itself: keys sent to the page went nowhere when it took focus late.
    cell.fill("The bilge pump is checked every Friday at dawn.")
    cell.press("Enter")
    save = page.get_by_role("button", name="Save chunks")
    expect(save).to_be_enabled()
    save.click()
    wait_idle(page)
    expect(page.get_by_test_id("stAlert").filter(has_text="Saved 1 chunk(s)")).to_be_visible()

    after = chunks(api)
    assert [c["id"] for c in after] == [c["id"] for c in before]
    assert after[0]["page_content"] == "The bilge pump is checked every Friday at dawn."
    assert after[0]["metadata"].get("source") == before[0]["metadata"].get("source")
    found = httpx.post(
        f"{api}/knowledge_base/search_docs",
        json={"knowledge_base_name": KB, "query": "When is the bilge pump checked? Friday", "top_k": 1},
        timeout=60,
    ).json()
    assert "Friday" in found[0]["page_content"]  # the index has the new text, not the old
    screenshot(page, screenshots_dir / "kb_chunks.png")
