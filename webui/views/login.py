"""Sign-in and sign-up, shown before anything else while accounts are on.

On a fresh install (no account yet) it asks for the admin account instead: the first account to
sign up is the admin.
"""

from __future__ import annotations

import streamlit as st

from webui import account
from webui.api_client import ApiClientError, BackendError
from webui.i18n import t
from webui.session import client, show_error


def _sign_in_form() -> None:
    with st.form("login_form", border=True):
        email = st.text_input(t("Email"), key="login_email")
        password = st.text_input(t("Password"), type="password", key="login_password")
        if st.form_submit_button(t("Sign in"), type="primary", use_container_width=True):
            try:
                token = client().as_user(None).login(email.strip(), password)
            except BackendError as exc:
                st.error(exc.message, icon=":material/lock:")
                return
            except ApiClientError as exc:
                show_error(exc)
                return
            account.sign_in(token)
            st.rerun()


def _sign_up_form(first: bool) -> None:
    label = t("Create the admin account") if first else t("Create account")
    with st.form("signup_form", border=True):
        email = st.text_input(t("Email"), key="signup_email")
        name = st.text_input(t("Display name (optional)"), key="signup_name", max_chars=100)
        password = st.text_input(
            t("Password (at least 8 characters)"), type="password", key="signup_password"
        )
        if st.form_submit_button(label, type="primary", use_container_width=True):
            api = client().as_user(None)
            try:
                user = api.signup(email.strip(), password, name.strip())
                token = api.login(email.strip(), password)
            except BackendError as exc:
                st.error(exc.message, icon=":material/error:")
                return
            except ApiClientError as exc:
                show_error(exc)
                return
            account.forget_status()
            account.sign_in(token)
            if user.get("role") == "pending":
                st.session_state["_auth_notice"] = t("Account created: an admin has to approve it.")
            st.rerun()


def page() -> None:
    status = account.status(client())
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Chatchat")
        if st.session_state.get(account.EXPIRED_KEY):
            st.warning(
                t("Your session has ended: sign in again. What you typed is kept."),
                icon=":material/schedule:",
            )
        if status.get("needs_admin"):
            st.subheader(t("Create the admin account"))
            st.caption(
                t("This is a fresh install: the first account manages users, models and knowledge bases.")
            )
            _sign_up_form(first=True)
            return
        if status.get("signup_enabled"):
            sign_in, sign_up = st.tabs([t("Sign in"), t("Create account")])
            with sign_in:
                _sign_in_form()
            with sign_up:
                _sign_up_form(first=False)
        else:
            _sign_in_form()
            st.caption(t("Sign-up is closed: ask an admin for an account."))


page()
