"""What every page shares: the backend URL, the API client, the backend's capabilities, error display.

The backend URL comes from the command line (``streamlit run webui/app.py -- --api-url URL``), as
the launcher starts it; nothing is read from module globals or configuration files here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from webui import i18n
from webui.api_client import ApiClient, ApiClientError, BackendError, BackendUnreachable
from webui.i18n import N_, t

DEFAULT_API_URL = "http://127.0.0.1:7861"
CAPABILITIES_TTL_S = 30.0
MODELS_TTL_S = 5.0

T = TypeVar("T")


def api_url(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--api-url", default=DEFAULT_API_URL)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return str(args.api_url).rstrip("/")


@st.cache_resource(show_spinner=False)
def _client_for(base_url: str) -> ApiClient:
    """One pooled HTTP client per backend URL, shared by all browser sessions (httpx is thread-safe)."""
    return ApiClient(base_url)


def client() -> ApiClient:
    """The backend, called as this session's signed-in user (anonymously before sign-in)."""
    from webui import account

    return _client_for(api_url()).as_user(account.token())


def capabilities(refresh: bool = False) -> set[str]:
    """The backend's paths, re-read every 30 s so endpoints of an upgraded backend appear by themselves."""
    cached: tuple[float, set[str]] | None = st.session_state.get("_capabilities")
    if refresh or cached is None or time.monotonic() - cached[0] > CAPABILITIES_TTL_S:
        cached = (time.monotonic(), client().paths())
        st.session_state["_capabilities"] = cached
    return cached[1]


def has(path: str) -> bool:
    return path in capabilities()


def running_models(api: ApiClient, fresh: bool = False, any_age: bool = False) -> dict[str, dict[str, Any]]:
    """The served models, re-read at most every ``MODELS_TTL_S`` while this session chats.

    Reading them asks the API server, the controller and every worker (25-70 ms), and the chat
    page needs them on every rerun. The rerun that sends a question (``any_age``) keeps the copy
    whatever its age: the question goes to the model the page showed when it was typed, and
    fetching first would only delay the answer. This session's own model actions forget the copy
    (``forget_models``), so they show at once; a change made elsewhere shows within seconds, and
    a question to a model stopped meanwhile says so (and forgets the copy too).
    A failed read is not kept.
    """
    return _kept("_running_models", api.running_models, fresh, any_age)


def configured_models(api: ApiClient, any_age: bool = False) -> dict[str, dict[str, Any]]:
    """The configured models (they change only when the stack restarts), kept like the running ones."""
    return _kept("_configured_models", api.config_models, False, any_age)


def _kept(key: str, read: Callable[[], dict[str, Any]], fresh: bool, any_age: bool) -> dict[str, Any]:
    cached: tuple[float, dict[str, Any]] | None = st.session_state.get(key)
    if cached is not None and not fresh and (any_age or time.monotonic() - cached[0] <= MODELS_TTL_S):
        return cached[1]
    models = call(read, default=None)
    if models is None:
        return {}
    st.session_state[key] = (time.monotonic(), models)
    return models


def forget_models() -> None:
    """Drop this session's copies of the model lists: the next read asks the backend."""
    st.session_state.pop("_running_models", None)
    st.session_state.pop("_configured_models", None)


def unreachable_banner(exc: BackendUnreachable) -> None:
    """A clear message and a retry button instead of a traceback when the backend is down or slow."""
    st.error(
        t("{reason} Start it with `python startup.py --all` (or `--api`), then retry.", reason=exc),
        icon=":material/cloud_off:",
    )
    if st.button(t("Retry"), type="primary", icon=":material/refresh:", key="retry_backend"):
        st.session_state.pop("_capabilities", None)
        st.rerun()


# What a refused call was, in the user's words, by status; the backend's message follows it.
STATUS_WORDS = {
    400: N_("Invalid request"),
    401: N_("Not signed in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Conflict"),
    413: N_("Too large"),
    422: N_("Invalid request"),
    429: N_("Too many requests"),
    502: N_("A service behind the backend failed"),
    503: N_("Not available now"),
}


def error_text(exc: BackendError) -> str:
    """The backend's message (English, specific), led by the kind of error in the UI's language."""
    words = STATUS_WORDS.get(exc.status)
    if words is None or i18n.current() == i18n.DEFAULT:
        return exc.message
    return t("{kind}: {message}", kind=t(words), message=exc.message)


def show_error(exc: ApiClientError) -> None:
    """Show why a call failed; a refused token sends the user back to the sign-in page."""
    if isinstance(exc, BackendError) and exc.signed_out:
        from webui import account

        account.sign_out(expired=True)
        st.rerun()
    if isinstance(exc, BackendUnreachable):
        unreachable_banner(exc)
    elif isinstance(exc, BackendError):
        st.error(error_text(exc), icon=":material/error:")
    else:
        st.error(str(exc), icon=":material/error:")


def call(action: Callable[[], T], default: Any = None) -> T | Any:
    """Run one backend call; on failure show why on the page and return ``default``."""
    try:
        return action()
    except ApiClientError as exc:
        show_error(exc)
        return default


# Widgets whose choice should survive a visit to another page (Streamlit drops the state of widgets
# a run does not draw, so the Dialogue settings would reset after looking at the Models page).
KEPT_WIDGETS = (
    "chat_mode",
    "model_pick",
    "temperature",
    "history_turns",
    "kb_pick",
    "kb_top_k",
    "kb_threshold",
    "engine_pick",
    "search_top_k",
    "kb_page_pick",
    "kb_chunk_size",
    "kb_chunk_overlap",
    "kb_title_enhance",
    "max_tokens",
    "system_prompt",
    "agent_tool_calling",
    "ui_language",
)
KEPT_PREFIXES = ("prompt_",)


def keep_widget_state() -> None:
    for key in list(st.session_state.keys()):
        if key in KEPT_WIDGETS or key.startswith(KEPT_PREFIXES):
            st.session_state[key] = st.session_state[key]
