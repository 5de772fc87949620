"""The signed-in user of this browser session: the token, who it is, signing in and out.

The token lives in the session and in a same-site cookie (so a reload stays signed in); every
backend call of the session sends it (``session.client()``). A call the backend refuses with 401
(the token expired or was revoked) signs the session out and keeps what the user was about to send,
so they can sign in again without losing it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from webui.api_client import ApiClient, ApiClientError

TOKEN_KEY = "_auth_token"
ME_KEY = "_auth_me"
STATUS_KEY = "_auth_status"
SIGNED_OUT_KEY = "_auth_signed_out"  # the cookie this page was loaded with is no longer valid
EXPIRED_KEY = "_auth_expired"
PENDING_QUERY_KEY = "_pending_query"
COOKIE = "chatchat_token"
STATUS_TTL_S = 30.0


def _cookie_token() -> str | None:
    if st.session_state.get(SIGNED_OUT_KEY):
        return None
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser context
        return None
    return value if isinstance(value, str) and value else None  # AppTest's stand-in context is no token


def token() -> str | None:
    """This session's token: the one it signed in with, else the cookie's from an earlier visit."""
    value = st.session_state.get(TOKEN_KEY)
    if value is None:
        value = _cookie_token()
        if value:
            st.session_state[TOKEN_KEY] = value
    return value


def _write_cookie(value: str | None, max_age: int) -> None:
    """Set (or with ``None`` clear) the cookie from the page itself; SameSite=Strict."""
    cookie = f"{COOKIE}={value or ''}; path=/; max-age={max_age}; SameSite=Strict"
    st.html(f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True)


def sign_in(value: str) -> None:
    st.session_state[TOKEN_KEY] = value
    st.session_state.pop(ME_KEY, None)
    st.session_state.pop(EXPIRED_KEY, None)
    st.session_state["_auth_write_cookie"] = value


def flush_cookie() -> None:
    """Write a cookie change asked for in the previous run (a rerun would drop it if done at once)."""
    if "_auth_write_cookie" in st.session_state:
        value = st.session_state.pop("_auth_write_cookie")
        _write_cookie(value, 30 * 24 * 3600 if value else 0)


def sign_out(expired: bool = False) -> None:
    """Forget the token here (the backend call that revoked it, if any, is the caller's)."""
    st.session_state.pop(TOKEN_KEY, None)
    st.session_state.pop(ME_KEY, None)
    st.session_state[SIGNED_OUT_KEY] = True
    st.session_state["_auth_write_cookie"] = None
    if expired:
        st.session_state[EXPIRED_KEY] = True


def keep_query(query: str) -> None:
    """What the user typed, kept until it has been answered (a sign-in may come in between)."""
    st.session_state[PENDING_QUERY_KEY] = query


def take_query() -> str | None:
    return st.session_state.pop(PENDING_QUERY_KEY, None)


def drop_query() -> None:
    st.session_state.pop(PENDING_QUERY_KEY, None)


def status(api: ApiClient) -> dict[str, Any]:
    """Whether accounts are on, sign-up is open, the admin is still to be made (re-read every 30 s)."""
    cached: tuple[float, dict[str, Any]] | None = st.session_state.get(STATUS_KEY)
    if cached is None or time.monotonic() - cached[0] > STATUS_TTL_S:
        try:
            value = api.auth_status()
        except ApiClientError:
            value = {"auth_enabled": False, "signup_enabled": False, "needs_admin": False}
        cached = (time.monotonic(), value)
        st.session_state[STATUS_KEY] = cached
    return cached[1]


def forget_status() -> None:
    st.session_state.pop(STATUS_KEY, None)


def me(api: ApiClient) -> dict[str, Any] | None:
    """The signed-in user (None when not signed in or the token no longer works)."""
    cached = st.session_state.get(ME_KEY)
    if cached is not None:
        return cached
    if not api.token:
        return None
    try:
        cached = api.me()
    except ApiClientError as exc:
        if getattr(exc, "signed_out", False):
            sign_out(expired=True)
            return None
        raise
    st.session_state[ME_KEY] = cached
    return cached


def is_admin() -> bool:
    user = st.session_state.get(ME_KEY) or {}
    return user.get("role") == "admin"
