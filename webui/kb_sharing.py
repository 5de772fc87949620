"""The sharing dialog of the knowledge-base page: visibility and the users it is shared with."""

from __future__ import annotations

import streamlit as st

from webui.api_client import ApiClient, ApiClientError, BackendError
from webui.i18n import N_, t
from webui.session import show_error

VISIBILITY_NAMES = (N_("private"), N_("shared"), N_("public"))
VISIBILITY_HELP = {
    "private": N_("Only you (and admins)."),
    "shared": N_("You and the users listed below, each with read or write."),
    "public": N_("Every signed-in user may read it."),
}


def _share_lines(shares: list[dict[str, str]]) -> str:
    return "\n".join(f"{s['email']} {s['permission']}" for s in shares)


def _parse(text: str) -> list[dict[str, str]]:
    """One share per line: ``email`` or ``email read|write``."""
    shares = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        permission = parts[1].lower() if len(parts) > 1 else "read"
        shares.append({"email": parts[0], "permission": "write" if permission == "write" else "read"})
    return shares


def sharing_dialog(api: ApiClient, kb: str) -> None:
    """The dialog, titled in the session's language (a decorator would fix the title at import)."""
    st.dialog(t("Share knowledge base"))(_sharing)(api, kb)


def _sharing(api: ApiClient, kb: str) -> None:
    try:
        access = api.kb_access(kb)
    except ApiClientError as exc:
        show_error(exc)
        return
    st.caption(t("Owner: {owner}", owner=access.get("owner") or t("the admins")))
    visibility = st.radio(
        t("Who may use it"),
        list(VISIBILITY_HELP),
        index=list(VISIBILITY_HELP).index(access["visibility"]),
        format_func={v: f"{t(v)} — {t(help_text)}" for v, help_text in VISIBILITY_HELP.items()}.__getitem__,
        key=f"kb_visibility_{kb}",
    )
    text = st.text_area(
        t("Shared with (one per line: email read|write)"),
        value=_share_lines(access.get("shares") or []),
        key=f"kb_shares_{kb}",
        placeholder="bob@example.com read\ncarol@example.com write",
    )
    if st.button(t("Save"), type="primary", key=f"kb_share_save_{kb}"):
        try:
            api.set_kb_access(kb, visibility, _parse(text))
        except BackendError as exc:
            st.error(exc.message, icon=":material/error:")
            return
        except ApiClientError as exc:
            show_error(exc)
            return
        st.rerun()
