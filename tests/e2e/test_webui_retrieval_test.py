"""The web UI's retrieval test page against the real backend (Streamlit AppTest, headless)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import RunningStack

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "webui" / "app.py")


def test_the_retrieval_test_page_shows_each_candidates_fate(
    stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", stack.urls.api])
    app = AppTest.from_file(APP, default_timeout=180)
    app.run()
    app.switch_page("views/retrieval_test.py").run()
    assert not app.exception and app.title[0].value == "Retrieval test"
    app.multiselect(key="rt_kbs").set_value(["samples"]).run()
    app.text_input(key="rt_query").set_value("What is Langchain-Chatchat?").run()
    app.number_input(key="rt_top_k").set_value(1).run()
    app.button(key="rt_go").click().run()
    assert not app.exception
    table = app.dataframe[0].value
    assert list(table["result"])[0] == "kept #1"
    assert any(str(fate).startswith("dropped: outranked") for fate in table["result"])
    assert "1 kept of" in app.markdown[0].value
    assert any(e.label.startswith("1. kept #1") for e in app.expander)
