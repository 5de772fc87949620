"""The Dialogue sidebar's chat settings: mode, model, sampling, history and the per-mode options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from webui.api_client import (
    AGENT_TOOLS_PATH,
    CHAT_MODE_PATHS,
    KB_LIST_PATH,
    RUNNING_MODELS_PATH,
    ApiClient,
    ApiClientError,
)
from webui.i18n import N_, t
from webui.session import (
    call,
    capabilities,
    configured_models,
    forget_models,
    has,
    running_models,
    show_error,
)

MODE_LABELS = {
    "llm_chat": N_("LLM chat"),
    "knowledge_base_chat": N_("Knowledge-base chat"),
    "file_chat": N_("File chat"),
    "search_engine_chat": N_("Search-engine chat"),
    "agent_chat": N_("Agent chat"),
}
DEFAULT_MODEL_LABEL = N_("(backend default)")
MODEL_DECIDES = N_("(the model decides)")


# The widgets whose values make up a conversation's settings, stored with it and restored when it
# is opened again (so a follow-up in a knowledge-base conversation is not silently plain chat).
CONVERSATION_SETTINGS = (
    "chat_mode",
    "temperature",
    "history_turns",
    "max_tokens",
    "system_prompt",
    "kb_pick",
    "kb_top_k",
    "kb_threshold",
    "engine_pick",
    "search_top_k",
    "agent_tool_calling",
)
CONVERSATION_SETTING_PREFIXES = ("prompt_",)
NO_LIMIT = 0


@dataclass
class ChatOptions:
    mode: str
    model_name: str | None
    temperature: float
    history_turns: int
    prompt_name: str
    max_tokens: int | None = None
    system_prompt: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # per-mode request fields
    ready: bool = True  # False when the mode lacks a choice it needs (e.g. no KB yet)
    hint: str = ""


def available_modes() -> list[str]:
    paths = capabilities()
    return [mode for mode, path in CHAT_MODE_PATHS.items() if path in paths]


@st.cache_data(ttl=30, show_spinner=False)
def _server_configs(base_url: str, _client: ApiClient) -> dict[str, Any]:
    return _client.server_configs()


def server_configs(client: ApiClient) -> dict[str, Any]:
    if not has("/server/configs"):
        return {}
    try:
        return _server_configs(client.base_url, client) or {}
    except ApiClientError:
        return {}


def _switch(client: ApiClient, old: str, new: str) -> bool:
    """Start ``new`` (stopping ``old``, if any) and wait until it serves; False when it could not."""
    label = t("Switching from {old} to {new}…", old=old, new=new) if old else t("Starting {name}…", name=new)
    with st.status(label, expanded=True) as status:
        st.write(
            t("The backend stops the current model and waits until the new one serves.")
            if old
            else t("The backend starts the model and waits until it serves.")
        )
        try:
            client.change_model(old, new)
        except ApiClientError as exc:
            status.update(label=t("Could not switch to {name}", name=new), state="error")
            show_error(exc)
            return False
        status.update(label=t("{name} is serving", name=new), state="complete", expanded=False)
    forget_models()  # the new model serves now; the next read must show it
    st.session_state["model_current"] = new
    return True


def serving_models(models: dict[str, Any]) -> list[str]:
    """The models that can answer now (a worker that is restarting or was given up on cannot)."""
    return [name for name, info in models.items() if (info or {}).get("status", "running") == "running"]


@st.fragment(run_every=3)
def _wait_for_model(client: ApiClient) -> None:
    """While nothing serves, look again every few seconds and offer the first model that comes up."""
    models = running_models(client, fresh=True)
    ready = serving_models(models)
    if ready:
        st.success(t("{name} is available now.", name=ready[0]), icon=":material/check_circle:")
        if st.button(t("Switch to it"), key="model_available_switch", type="primary"):
            st.session_state["model_current"] = ready[0]
            st.rerun(scope="app")
        return
    for name, info in models.items():
        status = str((info or {}).get("status"))
        if status in MODEL_STATES:
            st.caption(t(MODEL_STATES[status], name=name))


MODEL_STATES = {
    "starting": N_("{name} is starting…"),
    "restarting": N_("{name} is restarting…"),
    "failed": N_("{name} failed to start: see the Models page."),
}


def _model_picker(client: ApiClient, configs: dict[str, Any]) -> tuple[str | None, bool]:
    """The model to answer with, and whether any model serves at all."""
    if not has(RUNNING_MODELS_PATH):
        default = configs.get("default_llm")
        options = [default] if default else [DEFAULT_MODEL_LABEL]
        choice = st.selectbox(
            t("Model"),
            options,
            key="model_pick",
            disabled=len(options) == 1,
            format_func={name: t(name) for name in options}.__getitem__,
        )
        return (None if choice == DEFAULT_MODEL_LABEL else choice), True
    asking = bool(str(st.session_state.get("chat_query") or "").strip())  # this run sends a question
    models = running_models(client, any_age=asking)
    running = serving_models(models)
    switchable: list[str] = []
    can_switch = has("/llm_model/change") and has("/llm_model/list_config_models")
    if can_switch:
        configured = configured_models(client, any_age=asking)
        switchable = [name for name in (configured.get("local") or {}) if name not in running]
    if not running:
        st.warning(t("No model is running."), icon=":material/warning:")
        if switchable:
            pick = st.selectbox(t("Start a model"), switchable, key="model_start_pick")
            if st.button(t("Start {name}", name=pick), key="model_start", icon=":material/play_arrow:"):
                if _switch(client, "", pick):
                    st.rerun()
        _wait_for_model(client)
        return None, False
    options = running + switchable
    current = st.session_state.get("model_current")
    if current not in running:
        current = configs.get("default_llm") if configs.get("default_llm") in running else running[0]
    choice = st.selectbox(
        t("Model"),
        options,
        index=options.index(current) if current in options else 0,
        # Labels made now, in this run's language: AppTest (and Streamlit) may call it outside a run.
        format_func={
            name: name if name in running else t("{name} (not running: switch to it)", name=name)
            for name in options
        }.__getitem__,
        key="model_pick",
        help=t("Models served right now; picking a configured one that is not running switches to it."),
    )
    if choice in switchable:
        if _switch(client, current, choice):
            st.rerun()
        return current, True
    st.session_state["model_current"] = choice
    return choice, True


def _prompt_names(configs: dict[str, Any], mode: str) -> list[str]:
    templates = configs.get("prompt_templates")
    if isinstance(templates, dict) and isinstance(templates.get(mode), dict) and templates[mode]:
        # NAME.LANG is NAME's variant for questions in that language, chosen by the backend.
        return [name for name in templates[mode] if "." not in name] or ["default"]
    return ["default"]


def _mode_options(client: ApiClient, mode: str, options: ChatOptions) -> None:
    if mode in ("knowledge_base_chat", "file_chat"):
        if mode == "knowledge_base_chat":
            kbs = [
                kb if isinstance(kb, str) else kb.get("kb_name", kb.get("name", ""))
                for kb in (call(client.knowledge_bases, default=[]) if has(KB_LIST_PATH) else [])
            ]
            if not kbs:
                options.ready, options.hint = (
                    False,
                    t("Create a knowledge base on the Knowledge bases page first."),
                )
            if st.session_state.get("kb_pick") not in (None, *kbs):
                st.session_state.pop("kb_pick")  # a restored choice that was deleted since
            kb = st.selectbox(t("Knowledge base"), kbs, key="kb_pick")
            options.extra["knowledge_base_name"] = kb
        else:
            uploads = st.file_uploader(
                t("Files to chat with"), accept_multiple_files=True, key="file_chat_files"
            )
            if uploads and st.button(t("Use these files"), key="file_chat_upload", icon=":material/upload:"):
                with st.spinner(t("Reading and indexing the files…")):
                    result = call(lambda: client.upload_temp_docs([(f.name, f.getvalue()) for f in uploads]))
                if result:
                    st.session_state["file_chat_id"] = result.get("id")
                    for name, reason in (result.get("failed_files") or {}).items():
                        st.warning(f"{name}: {reason}")
            knowledge_id = st.session_state.get("file_chat_id")
            if not knowledge_id:
                options.ready, options.hint = (
                    False,
                    (
                        t("Press “Use these files” in the sidebar to read the files you picked.")
                        if uploads
                        else t("Upload files in the sidebar first.")
                    ),
                )
            options.extra["knowledge_id"] = knowledge_id
        options.extra["top_k"] = st.number_input(t("Matched chunks (top_k)"), 1, 20, 3, key="kb_top_k")
        options.extra["score_threshold"] = st.slider(
            t("Score threshold"),
            0.0,
            2.0,
            1.0,
            0.01,
            key="kb_threshold",
            help=t("A distance: lower keeps only closer matches."),
        )
    elif mode == "search_engine_chat":
        engines = call(client.search_engines, default=[]) if has("/server/list_search_engines") else []
        if not engines:
            options.ready, options.hint = False, t("The backend has no search engine configured.")
        options.extra["search_engine_name"] = st.selectbox(t("Search engine"), engines, key="engine_pick")
        options.extra["top_k"] = st.number_input(t("Results (top_k)"), 1, 20, 3, key="search_top_k")
    elif mode == "agent_chat":
        options.extra["tool_calling"] = st.selectbox(
            t("Tool calling"),
            ["auto", "native", "react"],
            key="agent_tool_calling",
            help=t(
                "native: OpenAI tool calls (models trained for them); react: the ReAct text protocol "
                "(any model); auto: as configured for the model."
            ),
        )
        _tool_picker(client, options)


def tool_label(tool: dict[str, Any]) -> str:
    """A tool as the picker shows it: its name and where it comes from."""
    source = tool.get("source") or "builtin"
    if source == "builtin":
        return t("{name} (built-in)", name=tool["name"])
    return t("{name} (MCP: {source})", name=tool["name"], source=source)


def _tool_picker(client: ApiClient, options: ChatOptions) -> None:
    """The tools to offer (built-in and MCP, each with its source) and one the agent must call first."""
    if not has(AGENT_TOOLS_PATH):
        return
    tools = call(client.agent_tools, default=[]) or []
    names = [t["name"] for t in tools]
    labels = {t["name"]: tool_label(t) for t in tools}
    picked = st.session_state.get("agent_tools_pick")
    if picked is not None:  # a tool whose server went down is no longer an option
        st.session_state["agent_tools_pick"] = [n for n in picked if n in names]
    chosen = st.multiselect(
        t("Tools"),
        names,
        default=None if picked is not None else names,
        format_func=lambda n: labels.get(n, n),
        key="agent_tools_pick",
        help=t(
            "Built-in tools and those of the MCP connections that answer; one that is down is not listed."
        ),
    )
    if set(chosen) != set(names):
        options.extra["tools"] = chosen
    first = st.selectbox(
        t("Call first"),
        [MODEL_DECIDES, *chosen],
        key="agent_tool_first",
        format_func={MODEL_DECIDES: t(MODEL_DECIDES), **{n: n for n in chosen}}.__getitem__,
    )
    if first != MODEL_DECIDES:
        options.extra["tool_choice"] = first


def sidebar(client: ApiClient) -> ChatOptions:
    modes = available_modes()
    if st.session_state.get("chat_mode") not in (None, *modes):
        st.session_state.pop("chat_mode")  # a restored mode this backend does not serve
    mode = st.selectbox(
        t("Chat mode"),
        modes,
        format_func={m: t(MODE_LABELS.get(m, m)) for m in modes}.__getitem__,
        key="chat_mode",
    )
    configs = server_configs(client)
    model_name, serving = _model_picker(client, configs)
    temperature = st.slider(
        t("Temperature"), 0.0, 2.0, float(configs.get("temperature", 0.7)), 0.05, key="temperature"
    )
    history_turns = st.number_input(
        t("History turns"),
        0,
        20,
        3,
        key="history_turns",
        help=t("How many earlier question/answer pairs the model sees."),
    )
    names = _prompt_names(configs, mode)
    if st.session_state.get(f"prompt_{mode}") not in (None, *names):
        st.session_state.pop(f"prompt_{mode}")  # a restored template this backend no longer has
    prompt_name = st.selectbox(t("Prompt template"), names, key=f"prompt_{mode}")
    with st.expander(t("Generation settings"), icon=":material/tune:"):
        max_tokens = st.number_input(
            t("Max tokens"),
            0,
            32_768,
            1024,
            64,
            key="max_tokens",
            help=t(
                "The longest answer the model may write (0: as long as the context allows). "
                "A looping answer stops here."
            ),
        )
        system_prompt = st.text_area(
            t("System prompt"),
            key="system_prompt",
            max_chars=4000,
            placeholder=t("e.g. You are a concise assistant. Answer in English."),
            help=t("Sent to the model before the conversation; kept with this conversation."),
        )
    options = ChatOptions(
        mode,
        model_name,
        temperature,
        int(history_turns),
        prompt_name,
        max_tokens=int(max_tokens) or None,
        system_prompt=system_prompt.strip(),
    )
    _mode_options(client, mode, options)
    if not serving:
        options.ready, options.hint = (
            False,
            t("No model is running: start one in the sidebar or on the Models page."),
        )
    return options


def settings_snapshot() -> dict[str, Any]:
    """The current values of the conversation's settings widgets, as stored with the conversation."""
    state = st.session_state
    return {
        key: state[key]
        for key in list(state.keys())
        if (key in CONVERSATION_SETTINGS or key.startswith(CONVERSATION_SETTING_PREFIXES))
        and isinstance(state[key], str | int | float | bool)
    }


def apply_settings(settings: dict[str, Any]) -> None:
    """Set the widgets to a stored conversation's settings; runs before the sidebar is drawn."""
    for key, value in (settings or {}).items():
        if key in CONVERSATION_SETTINGS or key.startswith(CONVERSATION_SETTING_PREFIXES):
            st.session_state[key] = value
