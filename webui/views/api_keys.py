"""API keys page: create a key (shown once, to copy), see keys by prefix, revoke them."""

from __future__ import annotations

import streamlit as st

from webui.api_client import ApiClientError
from webui.i18n import t
from webui.session import call, client, show_error

NEW_KEY = "_api_key_new"


def page() -> None:
    api = client()
    st.title(t("API keys"))
    st.caption(
        t(
            "Keys let scripts and OpenAI clients call the backend and the OpenAI-compatible API as you: "
            "`Authorization: Bearer sk-...`, or `OpenAI(api_key=...)`."
        )
    )
    if created := st.session_state.pop(NEW_KEY, None):
        st.success(t("Copy the key now: it is not shown again."), icon=":material/key:")
        st.code(created, language=None)
    with st.form("api_key_create", border=True):
        name = st.text_input(
            t("Name"), max_chars=100, placeholder=t("e.g. laptop script"), key="api_key_name"
        )
        if st.form_submit_button(t("Create key"), type="primary"):
            try:
                st.session_state[NEW_KEY] = api.create_api_key(name.strip())["key"]
            except ApiClientError as exc:
                show_error(exc)
            else:
                st.rerun()
    keys = call(api.api_keys, default=[]) or []
    if not keys:
        st.info(t("No keys yet."), icon=":material/info:")
        return
    for key in keys:
        cols = st.columns([3, 3, 3, 1])
        cols[0].markdown(f"**{key.get('name') or t('(unnamed)')}**")
        cols[1].code(f"{key['prefix']}…", language=None)
        cols[2].caption(t("created {stamp}", stamp=str(key.get("created_at", ""))[:16].replace("T", " ")))
        if cols[3].button(t("Revoke"), key=f"revoke_{key['id']}", icon=":material/delete:"):
            try:
                api.revoke_api_key(int(key["id"]))
            except ApiClientError as exc:
                show_error(exc)
            else:
                st.rerun()


page()
