"""Streamlit web UI entry point: ``streamlit run webui/app.py -- --api-url http://127.0.0.1:7861``.

It talks to the backend only over HTTP (``webui/api_client.py``). Pages whose backend endpoints
are missing are not shown, so a backend without knowledge bases or model management still gets a
working UI.
"""

from __future__ import annotations

import streamlit as st

from webui.api_client import (
    KB_LIST_PATH,
    MCP_CONNECTIONS_PATH,
    RUNNING_MODELS_PATH,
    ApiClientError,
    BackendUnreachable,
)
from webui.session import capabilities, keep_widget_state, show_error, unreachable_banner


def main() -> None:
    st.set_page_config(page_title="Chatchat", page_icon="💬", layout="wide")
    keep_widget_state()
    try:
        paths = capabilities()
    except BackendUnreachable as exc:
        st.title("Chatchat")
        st.caption("Local LLM chat with your own knowledge bases.")
        unreachable_banner(exc)
        return
    except ApiClientError as exc:
        st.title("Chatchat")
        show_error(exc)
        return
    pages = [
        st.Page(
            "views/dialogue.py", title="Dialogue", icon=":material/chat:", url_path="dialogue", default=True
        )
    ]
    if KB_LIST_PATH in paths:
        pages.append(
            st.Page(
                "views/knowledge_base.py",
                title="Knowledge bases",
                icon=":material/library_books:",
                url_path="knowledge_base",
            )
        )
    if RUNNING_MODELS_PATH in paths:
        pages.append(st.Page("views/models.py", title="Models", icon=":material/memory:", url_path="models"))
    if MCP_CONNECTIONS_PATH in paths:
        pages.append(
            st.Page("views/mcp.py", title="MCP connections", icon=":material/extension:", url_path="mcp")
        )
    st.navigation(pages).run()


main()
