"""The signed-in user's menu at the bottom of the sidebar: who they are, and signing out."""

from __future__ import annotations

from typing import Any

import streamlit as st

from webui import account
from webui.api_client import ApiClientError
from webui.i18n import t
from webui.session import client


def render(user: dict[str, Any]) -> None:
    with st.sidebar:
        st.divider()
        with st.popover(f"{user.get('display_name') or user['email']}", icon=":material/account_circle:"):
            st.caption(f"{user['email']} · {user['role']}")
            if st.button(t("Sign out"), key="logout", icon=":material/logout:", use_container_width=True):
                try:
                    client().logout()  # revokes the token everywhere
                except ApiClientError:
                    pass  # signing out here still works
                account.sign_out()
                st.rerun()
