"""MCP connections page: the tool servers the agent can use, their state and tools; admins add,
change, reconnect and remove them. Connections from the settings file are shown read-only."""

from __future__ import annotations

import shlex
from typing import Any

import streamlit as st

from webui.api_client import ApiClient, ApiClientError
from webui.i18n import N_, t
from webui.session import call, client, show_error

NOTICE_KEY = "mcp_notice"
MASK = "********"
TRANSPORTS = ["stdio", "streamable-http", "sse"]
STATE_ICONS = {
    "ready": ":material/check_circle:",
    "connecting": ":material/sync:",
    "failed": ":material/error:",
    "disabled": ":material/block:",
    "idle": ":material/pause_circle:",
    "stopped": ":material/stop_circle:",
}
STDIO_WARNING = N_(
    "A stdio connection runs its command on the server as the backend's user: it can read, change "
    "and delete whatever that user can. Add only commands you would run yourself."
)


def _notice(text: str) -> None:
    st.session_state[NOTICE_KEY] = text
    st.rerun()


def _pairs(text: str) -> dict[str, str]:
    """``KEY=value`` lines (env) or ``Header: value`` lines (headers)."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=") if "=" in line.split(":", 1)[0] else line.partition(":")
        if not sep or not key.strip():
            raise ValueError(
                t(
                    "cannot read {line}: write KEY=value (env) or Name: value (headers)",
                    line=repr(line.strip()),
                )
            )
        pairs[key.strip()] = value.strip()
    return pairs


def _lines(values: dict[str, str], sep: str) -> str:
    return "\n".join(f"{key}{sep}{value}" for key, value in values.items())


def _form(api: ApiClient, existing: dict[str, Any] | None) -> None:
    """Add a connection, or edit ``existing`` (its secrets come back masked and stay as they are)."""
    key = f"mcp_form_{existing['name'] if existing else 'new'}"
    with st.form(key, border=True):
        st.markdown(t("**Edit {name}**", name=existing["name"]) if existing else t("**New connection**"))
        name = st.text_input(
            t("Name"),
            value=existing["name"] if existing else "",
            disabled=existing is not None,
            max_chars=32,
            help=t("Letters, digits, _ and -; its tools are offered as <name>__<tool>."),
            key=f"{key}_name",
        )
        transport = st.selectbox(
            t("Transport"),
            TRANSPORTS,
            index=TRANSPORTS.index(existing["transport"]) if existing else 0,
            key=f"{key}_transport",
            help=t("stdio: a program the backend runs; streamable-http: a URL; sse: a legacy SSE URL."),
        )
        command = st.text_input(
            t("Command (stdio)"),
            value=shlex.join([existing["command"], *existing["args"]])
            if existing and existing["command"]
            else "",
            placeholder="npx -y @modelcontextprotocol/server-filesystem /srv/shared",
            key=f"{key}_command",
        )
        url = st.text_input(
            t("URL (streamable-http, sse)"),
            value=(existing or {}).get("url") or "",
            placeholder="http://127.0.0.1:8000/mcp",
            key=f"{key}_url",
        )
        env = st.text_area(
            t("Environment (stdio), one KEY=value per line"),
            value=_lines((existing or {}).get("env") or {}, "="),
            key=f"{key}_env",
            help=t("Values are secrets: shown as {mask}; leave {mask} to keep a stored value.", mask=MASK),
        )
        headers = st.text_area(
            t("Headers (HTTP), one 'Name: value' per line"),
            value=_lines((existing or {}).get("headers") or {}, ": "),
            key=f"{key}_headers",
            help=t("e.g. Authorization: Bearer …; shown as {mask}, kept when left as {mask}.", mask=MASK),
        )
        cols = st.columns(3)
        timeout = cols[0].number_input(
            t("Timeout (s)"), 1.0, 600.0, float((existing or {}).get("timeout") or 30.0), key=f"{key}_timeout"
        )
        roles = cols[1].text_input(
            t("Allowed roles"),
            value=", ".join((existing or {}).get("allowed_roles") or []),
            key=f"{key}_roles",
        )
        users = cols[2].text_input(
            t("Allowed users (emails)"),
            value=", ".join((existing or {}).get("allowed_users") or []),
            key=f"{key}_users",
        )
        st.caption(
            t(
                "Allowed roles and users apply with accounts on; empty = everyone. "
                "Admins see every connection."
            )
        )
        enabled = st.checkbox(t("Enabled"), value=(existing or {}).get("enabled", True), key=f"{key}_enabled")
        st.warning(t(STDIO_WARNING), icon=":material/warning:")
        if not st.form_submit_button(t("Save") if existing else t("Add and connect"), type="primary"):
            return
        try:
            argv = shlex.split(command) if transport == "stdio" else []
            body = {
                "name": existing["name"] if existing else name.strip(),
                "transport": transport,
                "command": argv[0] if argv else None,
                "args": argv[1:],
                "url": url.strip() or None if transport != "stdio" else None,
                "env": _pairs(env) if transport == "stdio" else {},
                "headers": _pairs(headers) if transport != "stdio" else {},
                "timeout": timeout,
                "enabled": enabled,
                "allowed_roles": [r.strip() for r in roles.split(",") if r.strip()],
                "allowed_users": [u.strip() for u in users.split(",") if u.strip()],
            }
        except ValueError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        with st.spinner(t("Connecting…")):
            try:
                saved = (
                    api.update_mcp_connection(existing["name"], body)
                    if existing
                    else api.add_mcp_connection(body)
                )
            except ApiClientError as exc:
                show_error(exc)
                return
        state = (saved or {}).get("state")
        tools = len((saved or {}).get("tools") or [])
        _notice(
            t("{name} saved: {state}, {tools} tools", name=body["name"], state=state, tools=tools)
            if state == "ready"
            else t("{name} saved: {state}", name=body["name"], state=state)
        )


def _connection(api: ApiClient, connection: dict[str, Any]) -> None:
    name = connection["name"]
    icon = STATE_ICONS.get(connection["state"], "")
    origin = t(" · from settings (read-only)") if connection.get("read_only") else ""
    with st.expander(f"{icon} **{name}** · {connection['transport']} · {connection['state']}{origin}"):
        where = connection.get("url") or shlex.join(
            [connection.get("command") or "", *connection.get("args", [])]
        )
        st.code(where, language=None)
        if connection.get("error"):
            st.error(connection["error"], icon=":material/error:")
        secrets = {**connection.get("env", {}), **connection.get("headers", {})}
        if secrets:
            st.caption(t("Secrets: {list}", list=", ".join(f"{k}={v}" for k, v in secrets.items())))
        if connection.get("allowed_roles") or connection.get("allowed_users"):
            st.caption(
                t(
                    "Limited to roles: {roles}; users: {users}",
                    roles=", ".join(connection.get("allowed_roles") or []) or "—",
                    users=", ".join(connection.get("allowed_users") or []) or "—",
                )
            )
        tools = connection.get("tools") or []
        if tools:
            st.dataframe(
                [{t("tool"): tool["name"], t("description"): tool["description"]} for tool in tools],
                hide_index=True,
                width="stretch",
            )
            st.caption(t("Argument schemas"))
            st.json({tool["name"]: tool["parameters"] for tool in tools}, expanded=False)
        if connection.get("read_only"):
            return
        cols = st.columns(3)
        if cols[0].button(t("Reconnect"), key=f"mcp_reconnect_{name}", icon=":material/refresh:"):
            with st.spinner(t("Connecting {name}…", name=name)):
                try:
                    result = api.reconnect_mcp_connection(name)
                except ApiClientError as exc:
                    show_error(exc)
                else:
                    _notice(f"{name}: {(result or {}).get('state')}")
        if cols[1].toggle(t("Edit"), key=f"mcp_edit_{name}"):
            _form(api, connection)
        confirm = cols[2].checkbox(t("Yes, remove it"), key=f"mcp_confirm_{name}")
        if cols[2].button(
            t("Remove"), key=f"mcp_remove_{name}", disabled=not confirm, icon=":material/delete:"
        ):
            try:
                api.delete_mcp_connection(name)
            except ApiClientError as exc:
                show_error(exc)
            else:
                _notice(t("{name} removed", name=name))


def page() -> None:
    api = client()
    st.title(t("MCP connections"))
    st.caption(
        t(
            "Tool servers speaking the Model Context Protocol. Their tools join the agent's toolbox as "
            "<connection>__<tool>; a server that is down is left out of a run, never breaks it."
        )
    )
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice, icon=":material/check_circle:")
    connections = call(api.mcp_connections, default=None)
    if connections is None:
        return
    if not connections:
        st.info(
            t("No MCP connection yet. Add one below, or list them under mcp_servers in settings."),
            icon=":material/info:",
        )
    for connection in connections:
        _connection(api, connection)
    st.subheader(t("Add a connection"))
    _form(api, None)


page()
