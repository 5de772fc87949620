"""Models page: what is serving now, what is configured; start, switch and stop models.

A model's state (running, starting, restarting, failed) is the launcher's; while one is not
serving the page shows the end of its worker's log and looks again every few seconds.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from webui.api_client import ApiClient, ApiClientError, BackendError
from webui.i18n import N_, t
from webui.session import call, client, forget_models, has, show_error

NOTICE_KEY = "models_notice"
FAILURE_KEY = "models_failure"
SHOWN_FIELDS = ("engine", "path", "device", "context_length", "remote_model_name", "api_base_url")
STATES = {
    "running": N_("running"),
    "restarting": N_("restarting"),
    "starting": N_("starting"),
    "failed": N_("failed"),
}
STATUS_NOTES = {
    "restarting": N_("{name}: its worker died and is being restarted."),
    "starting": N_("{name}: its worker is starting."),
    "failed": N_("{name}: its worker kept dying at start and was given up on."),
}
REFRESH_S = 3


def _replicas(config: dict[str, Any]) -> str | None:
    if "ready" not in config or not config.get("replicas"):
        return None
    return t("{ready} of {replicas} ready", ready=config["ready"], replicas=config["replicas"])


def _rows(models: dict[str, dict[str, Any]], running: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, config in models.items():
        config = config or {}
        state = (running.get(name) or {}).get("status", "running") if name in running else None
        row: dict[str, Any] = {t("model"): name, t("status"): t(STATES.get(state, state)) if state else "—"}
        if name in running and _replicas(running[name] or {}):
            row[t("workers")] = _replicas(running[name])
        row.update({key: config.get(key) for key in SHOWN_FIELDS if config.get(key) is not None})
        rows.append(row)
    return rows


def _failure(message: str) -> None:
    """A failed start: the backend's first line, then the end of the worker's log."""
    head, _, tail = message.partition("\n")
    st.error(head, icon=":material/error:")
    if tail.strip():
        with st.expander(t("End of the worker's log"), expanded=True, icon=":material/description:"):
            st.code(tail, language=None)


def _start(api: ApiClient, old: str, new: str) -> None:
    """Start ``new`` (and stop ``old``, if given), showing the start as it happens."""
    label = t("Starting {name}…", name=new)
    with st.status(label, expanded=True) as status:
        st.write(
            t("The backend starts {new}, waits until it serves, then stops {old}.", new=new, old=old)
            if old
            else t("The backend starts {name} and waits until it serves.", name=new)
        )
        try:
            message = api.change_model(old, new)
        except BackendError as exc:
            status.update(label=t("Could not start {name}", name=new), state="error")
            st.session_state[FAILURE_KEY] = exc.message
            st.rerun()
        except ApiClientError as exc:
            status.update(label=t("Could not start {name}", name=new), state="error")
            show_error(exc)
            return
        status.update(label=t("{name} is serving", name=new), state="complete", expanded=False)
    st.session_state["model_current"] = new
    st.session_state[NOTICE_KEY] = message or t("{name} is serving", name=new)
    st.rerun()


def _states(api: ApiClient, running: dict[str, dict[str, Any]]) -> None:
    for name, config in running.items():
        status = str((config or {}).get("status"))
        if status not in STATUS_NOTES:
            continue
        st.warning(t(STATUS_NOTES[status], name=name), icon=":material/sync_problem:")
        if (config or {}).get("log_tail"):
            with st.expander(t("End of {name}'s worker log", name=name), icon=":material/description:"):
                st.code(str(config["log_tail"]), language=None)


def _watch(api: ApiClient) -> None:
    """The running table; a fragment redrawn every few seconds while a model starts or restarts."""
    running: dict[str, dict[str, Any]] | None = call(api.running_models, default=None)
    if running is None:
        return
    st.subheader(t("Running"))
    if running:
        st.dataframe(_rows(running, running), hide_index=True, width="stretch")
        _states(api, running)
    else:
        st.info(t("No model is serving. Start one below."), icon=":material/info:")
    was_busy = st.session_state.get("_models_busy")
    busy = any((c or {}).get("status") in ("starting", "restarting") for c in running.values())
    st.session_state["_models_busy"] = busy
    if was_busy and not busy:
        st.rerun(scope="app")  # a model came up (or gave up): the pickers below change


def page() -> None:
    api = client()
    forget_models()  # this page reads them fresh, and its actions must show on the chat page
    st.title(t("Models"))
    st.caption(t("Models served by the FastChat workers, and the others configured in settings.yaml."))
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice, icon=":material/check_circle:")
    if failure := st.session_state.pop(FAILURE_KEY, None):
        _failure(failure)
    running: dict[str, dict[str, Any]] | None = call(api.running_models, default=None)
    if running is None:
        return
    busy = any((c or {}).get("status") in ("starting", "restarting") for c in running.values())
    st.session_state["_models_busy"] = busy
    st.fragment(_watch, run_every=REFRESH_S if busy else None)(api)
    configured: dict[str, dict[str, Any]] = {}
    if has("/llm_model/list_config_models"):
        configured = call(api.config_models, default={}) or {}
    everything = {**(configured.get("local") or {}), **(configured.get("online") or {})}

    st.subheader(t("Configured"))
    if everything:
        st.dataframe(_rows(everything, running), hide_index=True, width="stretch")
    can_change = has("/llm_model/change")
    candidates = [
        name for name in everything if name not in running or running[name].get("status") == "failed"
    ]

    start_col, switch_col, stop_col = st.columns(3)
    with start_col.container(border=True):
        st.markdown(t("**Start a model**"))
        st.caption(t("Starts it beside the ones running now."))
        new = st.selectbox(
            t("Model"), candidates, key="models_start_pick", placeholder=t("Every configured model runs")
        )
        if st.button(
            t("Start"),
            type="primary",
            disabled=not new or not can_change,
            key="models_start",
            icon=":material/play_arrow:",
        ):
            _start(api, "", str(new))
    with switch_col.container(border=True):
        st.markdown(t("**Switch model**"))
        old = st.selectbox(
            t("Replace"),
            list(running) or [""],
            key="models_old",
            format_func={name: name or t("(nothing running)") for name in [*running, ""]}.__getitem__,
        )
        replacement = st.selectbox(
            t("With"), candidates, key="models_new", placeholder=t("No other configured model")
        )
        if st.button(t("Switch"), disabled=not replacement or not old or not can_change, key="models_switch"):
            _start(api, str(old), str(replacement))
    with stop_col.container(border=True):
        st.markdown(t("**Stop a model**"))
        victim = st.selectbox(
            t("Model"), list(running), key="models_stop_pick", placeholder=t("Nothing is running")
        )
        confirm = st.checkbox(t("Yes, stop it (answers in flight finish first)"), key="models_stop_confirm")
        if st.button(
            t("Stop"), disabled=not victim or not confirm or not has("/llm_model/stop"), key="models_stop"
        ):
            with st.spinner(t("Stopping {name}…", name=victim)):
                try:
                    message = api.stop_model(str(victim))
                except ApiClientError as exc:
                    show_error(exc)
                else:
                    st.session_state[NOTICE_KEY] = message or t("{name} stopped", name=victim)
                    st.rerun()


page()
