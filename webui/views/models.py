"""Models page: what is serving now, what is configured, and switching or stopping a model."""

from __future__ import annotations

from typing import Any

import streamlit as st

from webui.api_client import ApiClientError
from webui.session import call, client, has, show_error

NOTICE_KEY = "models_notice"
SHOWN_FIELDS = ("engine", "path", "device", "context_length", "remote_model_name", "api_base_url")
STATUS_NOTES = {
    "restarting": "its worker died and is being restarted",
    "starting": "its worker is starting",
    "failed": "its worker kept dying at start and was given up on; see the launcher's log",
}


def _replicas(config: dict[str, Any]) -> str | None:
    if "ready" not in config or not config.get("replicas"):
        return None
    return f"{config['ready']} of {config['replicas']} ready"


def _rows(models: dict[str, dict[str, Any]], running: set[str]) -> list[dict[str, Any]]:
    return [
        {
            "model": name,
            "running": name in running,
            **({"status": (config or {}).get("status")} if (config or {}).get("status") else {}),
            **({"workers": _replicas(config)} if config and _replicas(config) else {}),
            **{key: (config or {}).get(key) for key in SHOWN_FIELDS if (config or {}).get(key) is not None},
        }
        for name, config in models.items()
    ]


def page() -> None:
    api = client()
    st.title("Models")
    st.caption("Models served by the FastChat workers, and the others configured in settings.yaml.")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice, icon=":material/check_circle:")
    running: dict[str, dict[str, Any]] | None = call(api.running_models, default=None)
    if running is None:
        return
    configured: dict[str, dict[str, Any]] = {}
    if has("/llm_model/list_config_models"):
        configured = call(api.config_models, default={}) or {}
    local, online = configured.get("local") or {}, configured.get("online") or {}

    st.subheader("Running")
    if running:
        st.dataframe(_rows(running, set(running)), hide_index=True, width="stretch")
        for name, config in running.items():
            note = STATUS_NOTES.get(str((config or {}).get("status")))
            if note:
                st.warning(f"{name}: {note}.", icon=":material/sync_problem:")
    else:
        st.info("No model is serving. Start one below.", icon=":material/info:")

    st.subheader("Configured")
    everything = {**local, **online}
    if everything:
        st.dataframe(
            _rows(everything, set(running)),
            hide_index=True,
            width="stretch",
            column_config={"running": st.column_config.CheckboxColumn("running")},
        )

    switch_col, stop_col = st.columns(2)
    with switch_col.container(border=True):
        st.markdown("**Switch model**")
        candidates = [
            name for name in everything if name not in running or running[name].get("status") == "failed"
        ]
        old = st.selectbox(
            "Replace",
            list(running) or [""],
            key="models_old",
            format_func=lambda name: name or "(nothing running)",
        )
        new = st.selectbox("With", candidates, key="models_new", placeholder="No other configured model")
        if st.button(
            "Switch", type="primary", disabled=not new or not has("/llm_model/change"), key="models_switch"
        ):
            with st.status(f"Starting {new}…", expanded=True) as status:
                st.write(f"The backend starts {new}, waits until it serves, then stops {old or 'nothing'}.")
                try:
                    message = api.change_model(old or "", new)
                except ApiClientError as exc:
                    status.update(label=f"Could not switch to {new}", state="error")
                    show_error(exc)
                else:
                    status.update(label=message or f"{new} is serving", state="complete", expanded=False)
                    st.session_state["model_current"] = new
                    st.session_state[NOTICE_KEY] = message or f"{new} is serving"
                    st.rerun()
    with stop_col.container(border=True):
        st.markdown("**Stop a model**")
        victim = st.selectbox(
            "Model", list(running), key="models_stop_pick", placeholder="Nothing is running"
        )
        confirm = st.checkbox("Yes, stop it (answers in flight finish first)", key="models_stop_confirm")
        if st.button(
            "Stop", disabled=not victim or not confirm or not has("/llm_model/stop"), key="models_stop"
        ):
            with st.spinner(f"Stopping {victim}…"):
                try:
                    message = api.stop_model(victim)
                except ApiClientError as exc:
                    show_error(exc)
                else:
                    st.session_state[NOTICE_KEY] = message or f"{victim} stopped"
                    st.rerun()


page()
