"""Streamlit web UI entry point: ``streamlit run webui/app.py -- --api-url http://127.0.0.1:7861``.

It talks to the backend only over HTTP (``webui/api_client.py``). Pages whose backend endpoints
are missing are not shown, so a backend without knowledge bases or model management still gets a
working UI. With accounts on, the sign-in page comes before anything else.
"""

from __future__ import annotations

import streamlit as st

from webui import account, i18n, user_menu
from webui.api_client import (
    API_KEYS_PATH,
    KB_LIST_PATH,
    MCP_CONNECTIONS_PATH,
    RETRIEVAL_TEST_PATH,
    RUNNING_MODELS_PATH,
    USERS_PATH,
    ApiClientError,
    BackendUnreachable,
)
from webui.i18n import t
from webui.session import capabilities, client, keep_widget_state, show_error, unreachable_banner


def _pending(user: dict) -> None:
    st.title("Chatchat")
    st.info(
        t(
            "Your account {email} is waiting for an admin's approval. Reload this page once it is approved.",
            email=user["email"],
        ),
        icon=":material/hourglass_top:",
    )


def main() -> None:
    st.set_page_config(page_title="Chatchat", page_icon="💬", layout="wide")
    keep_widget_state()
    i18n.switch()
    account.flush_cookie()
    typed = st.session_state.get("chat_query")
    if isinstance(typed, str) and typed.strip():
        account.keep_query(typed)  # before any call that may find the session ended
    try:
        paths = capabilities()
    except BackendUnreachable as exc:
        st.title("Chatchat")
        st.caption(t("Local LLM chat with your own knowledge bases."))
        unreachable_banner(exc)
        return
    except ApiClientError as exc:
        st.title("Chatchat")
        show_error(exc)
        return
    user = None
    if account.status(client())["auth_enabled"]:
        try:
            user = account.me(client())
        except ApiClientError as exc:
            show_error(exc)
            return
        if user is None:
            st.navigation([st.Page("views/login.py", title=t("Sign in"), icon=":material/login:")]).run()
            return
        if notice := st.session_state.pop("_auth_notice", None):
            st.toast(notice, icon=":material/info:")
        if user["role"] == "pending":
            _pending(user)
            user_menu.render(user)
            return
    pages = [
        st.Page(
            "views/dialogue.py",
            title=t("Dialogue"),
            icon=":material/chat:",
            url_path="dialogue",
            default=True,
        )
    ]
    if KB_LIST_PATH in paths:
        pages.append(
            st.Page(
                "views/knowledge_base.py",
                title=t("Knowledge bases"),
                icon=":material/library_books:",
                url_path="knowledge_base",
            )
        )
    if RETRIEVAL_TEST_PATH in paths:
        pages.append(
            st.Page(
                "views/retrieval_test.py",
                title=t("Retrieval test"),
                icon=":material/search:",
                url_path="retrieval_test",
            )
        )
    if RUNNING_MODELS_PATH in paths:
        pages.append(
            st.Page("views/models.py", title=t("Models"), icon=":material/memory:", url_path="models")
        )
    admin = user is None or user["role"] == "admin"  # single-user mode: the one user administers
    if admin and MCP_CONNECTIONS_PATH in paths:
        pages.append(
            st.Page("views/mcp.py", title=t("MCP connections"), icon=":material/extension:", url_path="mcp")
        )
    if user is not None and API_KEYS_PATH in paths:
        pages.append(
            st.Page("views/api_keys.py", title=t("API keys"), icon=":material/key:", url_path="api_keys")
        )
    if user is not None and user["role"] == "admin" and USERS_PATH in paths:
        pages.append(st.Page("views/users.py", title=t("Users"), icon=":material/group:", url_path="users"))
    navigation = st.navigation(pages)
    if user is not None:
        user_menu.render(user)
    navigation.run()


main()
