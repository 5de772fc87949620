"""Users page (admins): approve sign-ups, change roles, disable or delete accounts."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import streamlit as st

from webui.api_client import ApiClientError
from webui.i18n import t
from webui.session import call, client, show_error

ROLES = ["admin", "user", "pending"]


def _apply(action: Callable[[], object], success: str) -> None:
    try:
        action()
    except ApiClientError as exc:
        show_error(exc)
    else:
        st.toast(success, icon=":material/check_circle:")
        st.rerun()


def page() -> None:
    api = client()
    st.title(t("Users"))
    users = call(api.users, default=[]) or []
    waiting = [u for u in users if u["role"] == "pending" and not u["disabled"]]
    if waiting:
        st.info(
            t("{count} account(s) waiting for approval.", count=len(waiting)), icon=":material/person_add:"
        )
    for user in users:
        uid = int(user["id"])
        with st.container(border=True):
            cols = st.columns([4, 2, 2, 2])
            status = t(" · disabled") if user["disabled"] else ""
            cols[0].markdown(
                f"**{user['email']}**  \n{user.get('display_name', '')} · {user['role']}{status}"
            )
            if user["role"] == "pending":
                if cols[1].button(
                    t("Approve"), key=f"approve_{uid}", type="primary", icon=":material/check:"
                ):
                    _apply(
                        partial(api.update_user, uid, role="user"), t("{email} approved", email=user["email"])
                    )
            else:
                role = cols[1].selectbox(
                    t("Role"),
                    ROLES,
                    index=ROLES.index(user["role"]),
                    key=f"role_{uid}",
                    label_visibility="collapsed",
                )
                if role != user["role"]:
                    _apply(
                        partial(api.update_user, uid, role=role),
                        t("{email} is now {role}", email=user["email"], role=role),
                    )
            label = t("Enable") if user["disabled"] else t("Disable")
            if cols[2].button(label, key=f"disable_{uid}"):
                _apply(
                    partial(api.update_user, uid, disabled=not user["disabled"]),
                    t("{email} enabled", email=user["email"])
                    if user["disabled"]
                    else t("{email} disabled", email=user["email"]),
                )
            if cols[3].button(t("Delete"), key=f"delete_{uid}", icon=":material/delete:"):
                _apply(partial(api.delete_user, uid), t("{email} deleted", email=user["email"]))


page()
