"""Knowledge bases through the web UI (AppTest against the real backend): create, upload, ask, delete."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import RunningStack

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "webui" / "app.py")
KB = "ui-test-kb"
DOCUMENT = (
    "# Zorvex station handbook\n\n"
    "The Zorvex research station keeps its spare oxygen tanks in the blue hangar behind the greenhouse.\n\n"
    "Visitors must sign the logbook at the north gate before they enter.\n"
)


@pytest.fixture
def app(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", stack.urls.api])
    return AppTest.from_file(APP, default_timeout=300)


def kb_names(stack: RunningStack) -> list[str]:
    return httpx.get(f"{stack.urls.api}/knowledge_base/list_knowledge_bases", timeout=10).json()["data"]


def test_create_upload_ask_and_delete_a_knowledge_base(app: AppTest, stack: RunningStack) -> None:
    assert KB not in kb_names(stack)
    app.run()
    app.switch_page("views/knowledge_base.py").run()
    assert not app.exception
    assert app.title[0].value == "Knowledge bases"

    pick = app.selectbox[0]
    pick.set_value("+ New knowledge base").run()
    app.text_input(key="kb_new_name").set_value("../escape")
    app.button(key="FormSubmitter:kb_create-Create").click().run()
    assert "letters, digits" in app.error[0].value  # refused before anything was sent
    assert "../escape" not in kb_names(stack)

    app.text_input(key="kb_new_name").set_value(KB)
    app.text_area(key="kb_new_info").set_value("Station handbook")
    app.button(key="FormSubmitter:kb_create-Create").click().run()
    assert not app.exception and not app.error
    assert KB in kb_names(stack)
    assert f"Created knowledge base {KB}" in app.success[0].value

    uploader = app.get("file_uploader")[0]
    uploader.set_value(("zorvex.md", DOCUMENT.encode(), "text/markdown"))
    app.run()
    app.button(key="kb_upload_go").click().run()
    assert not app.exception and not app.error
    files = app.dataframe[0].value
    assert list(files["file"]) == ["zorvex.md"]
    assert files["chunks"][0] > 0 and bool(files["in vector store"][0])
    jobs = [e for e in app.expander if e.label == "Ingestion jobs"]  # the upload ran as a job
    assert jobs and "zorvex.md: done" in " ".join(bar.text for bar in app.get("progress"))

    app.switch_page("views/dialogue.py").run()
    app.sidebar.selectbox(key="chat_mode").set_value("knowledge_base_chat").run()
    app.sidebar.selectbox(key="kb_pick").set_value(KB).run()
    app.chat_input[0].set_value("Where are the spare oxygen tanks kept?").run()
    assert not app.exception and not app.error
    sources = [e for e in app.expander if e.label.startswith("Sources")]
    assert sources, "the answer shows no sources"
    cited = " ".join(m.value for m in sources[-1].markdown)
    assert "zorvex.md" in cited and "blue hangar" in cited

    app.switch_page("views/knowledge_base.py").run()
    assert app.button(key="kb_delete").disabled  # needs the confirmation first
    app.checkbox(key=f"kb_delete_confirm_{KB}").check().run()
    app.button(key="kb_delete").click().run()
    assert not app.exception and not app.error
    assert KB not in kb_names(stack)
