"""The sharing dialog of the knowledge-base page: visibility and the users it is shared with."""

from __future__ import annotations

import streamlit as st

from webui.api_client import ApiClient, ApiClientError, BackendError
from webui.session import show_error

VISIBILITY_HELP = {
    "private": "Only you (and admins).",
    "shared": "You and the users listed below, each with read or write.",
    "public": "Every signed-in user may read it.",
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


@st.dialog("Share knowledge base")
def sharing_dialog(api: ApiClient, kb: str) -> None:
    try:
        access = api.kb_access(kb)
    except ApiClientError as exc:
        show_error(exc)
        return
    st.caption(f"Owner: {access.get('owner') or 'the admins'}")
    visibility = st.radio(
        "Who may use it",
        list(VISIBILITY_HELP),
        index=list(VISIBILITY_HELP).index(access["visibility"]),
        format_func=lambda v: f"{v} — {VISIBILITY_HELP[v]}",
        key=f"kb_visibility_{kb}",
    )
    text = st.text_area(
        "Shared with (one per line: email read|write)",
        value=_share_lines(access.get("shares") or []),
        key=f"kb_shares_{kb}",
        placeholder="bob@example.com read\ncarol@example.com write",
    )
    if st.button("Save", type="primary", key=f"kb_share_save_{kb}"):
        try:
            api.set_kb_access(kb, visibility, _parse(text))
        except BackendError as exc:
            st.error(exc.message, icon=":material/error:")
            return
        except ApiClientError as exc:
            show_error(exc)
            return
        st.rerun()
