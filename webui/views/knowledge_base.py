"""Knowledge-base page: create and delete knowledge bases, upload and manage their files, rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from webui.api_client import KB_ACCESS_PATH, UPLOAD_LIMITS_PATH, ApiClient, ApiClientError
from webui.i18n import N_, t
from webui.kb_jobs import jobs_panel, upload_as_job
from webui.kb_names import kb_name_problem
from webui.kb_sharing import sharing_dialog
from webui.session import call, client, has, show_error

NEW_KB = N_("+ New knowledge base")
NOTICE_KEY = "kb_notice"
PICK_KEY = "kb_page_pick"
PENDING_KEY = "_kb_page_pending"
TABLE_ROUND_KEY = "_kb_files_round"
CHUNK_ROUND_KEY = "_kb_chunks_round"
FILE_COLUMNS = (
    N_("file"),
    N_("loader"),
    N_("splitter"),
    N_("chunks"),
    N_("in vector store"),
    N_("size (KB)"),
    N_("modified"),
)


def _notice(text: str) -> None:
    """A success message that survives the rerun that refreshes the page."""
    st.session_state[NOTICE_KEY] = text
    st.rerun()


def _create_form(api: ApiClient, existing: list[str]) -> None:
    embed_models: list[dict[str, Any]] = []
    if has("/knowledge_base/list_embed_models"):
        embed_models = call(api.embed_models, default=[]) or []
    names = [m["name"] for m in embed_models] or [""]
    vs_types = [""]  # "" = the backend's default (pgvector on PostgreSQL, faiss on SQLite)
    if has("/knowledge_base/list_vector_store_types"):
        vs_types = call(api.vector_store_types, default=[]) or [""]
    default = next((i for i, m in enumerate(embed_models) if m.get("default")), 0)
    with st.form("kb_create", border=True):
        st.markdown(t("**New knowledge base**"))
        name = st.text_input(
            t("Name"),
            key="kb_new_name",
            max_chars=50,
            help=t("Letters, digits, Chinese characters, '_' and '-'."),
        )
        info = st.text_area(
            t("Description"),
            key="kb_new_info",
            max_chars=2000,
            placeholder=t("What it holds; agents read this to decide when to search it."),
        )
        col_vs, col_embed = st.columns(2)
        vs_type = col_vs.selectbox(
            t("Vector store"),
            vs_types,
            key="kb_new_vs",
            format_func={vs: vs or t("(backend default)") for vs in vs_types}.__getitem__,
        )
        embed = col_embed.selectbox(
            t("Embedding model"),
            names,
            index=default,
            key="kb_new_embed",
            format_func={n: n or t("(backend default)") for n in names}.__getitem__,
        )
        if st.form_submit_button(t("Create"), type="primary"):
            problem = kb_name_problem(name, existing)
            if problem:
                st.error(problem, icon=":material/error:")
                return
            try:
                api.create_knowledge_base(name, vs_type, embed, info)
            except ApiClientError as exc:
                show_error(exc)
                return
            st.session_state[PENDING_KEY] = name
            _notice(t("Created knowledge base {name}.", name=name))


def _upload(api: ApiClient, kb: str) -> None:
    with st.expander(t("Upload files"), expanded=True, icon=":material/upload_file:"):
        round_ = st.session_state.setdefault("kb_upload_round", 0)  # a new uploader after each upload
        limits = call(api.upload_limits, default={}) if has(UPLOAD_LIMITS_PATH) else {}
        types = [ext.lstrip(".") for ext in limits.get("extensions") or []] or None
        files = st.file_uploader(
            t("Files"),
            accept_multiple_files=True,
            key=f"kb_upload_{kb}_{round_}",
            label_visibility="collapsed",
            type=types,  # the file picker and the drop zone take only what a loader reads
        )
        if types:
            st.caption(
                t(
                    "Drop files here or browse: {types}; at most {mb} MB each.",
                    types=", ".join(types),
                    mb=f"{limits.get('max_upload_mb', 0):g}",
                )
            )
        col_size, col_overlap, col_title = st.columns(3)
        chunk_size = col_size.number_input(t("Chunk size"), 10, 100_000, 250, key="kb_chunk_size")
        overlap = col_overlap.number_input(t("Chunk overlap"), 0, 10_000, 50, key="kb_chunk_overlap")
        title = col_title.checkbox(
            t("Title enhance"),
            key="kb_title_enhance",
            help=t("Prefix chunks with the title-like line they follow."),
        )
        override = col_title.checkbox(t("Replace files that exist"), key="kb_override")
        if st.button(t("Add to knowledge base"), type="primary", disabled=not files, key="kb_upload_go"):
            failed = upload_as_job(  # a background job: a click elsewhere does not wait for it
                api,
                kb,
                files,
                chunk_size=int(chunk_size),
                chunk_overlap=int(overlap),
                zh_title_enhance=title,
                override=override,
            )
            if failed is None:  # still running: the jobs panel follows it
                return
            added = len(files) - len(failed)
            st.progress(
                1.0,
                text=t("Added {added} of {total} file(s)", added=added, total=len(files))
                if failed
                else t("Added {total} file(s)", total=len(files)),
            )
            for name, reason in failed.items():
                st.error(f"{name}: {ui_reason(reason)}", icon=":material/error:")
            if not failed:
                st.session_state["kb_upload_round"] = round_ + 1
                _notice(t("Added {total} file(s) to {kb}.", total=len(files), kb=kb))


def ui_reason(reason: str) -> str:
    """A backend reason in the words of this page (the API speaks of its form fields)."""
    return reason.replace(
        "set override=true to replace it", t('tick "Replace files that exist" to replace it')
    )


def _file_rows(files: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for f in files:
        if isinstance(f, str):
            rows.append({"file": f})
            continue
        mtime = f.get("file_mtime")
        rows.append(
            {
                "file": f.get("file_name"),
                "loader": f.get("document_loader_name"),
                "splitter": f.get("text_splitter_name"),
                "chunks": f.get("docs_count"),
                "in vector store": bool(f.get("in_db")) and (f.get("docs_count") or 0) > 0,
                "size (KB)": round((f.get("file_size") or 0) / 1024, 1),
                "modified": datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%d %H:%M") if mtime else "",
            }
        )
    return rows


def _files(api: ApiClient, kb: str) -> None:
    st.subheader(t("Files"))
    files = call(lambda: api.list_files(kb, details=True), default=None)
    if files is None:
        return
    if not files:
        st.info(t("No files yet: upload some above."), icon=":material/info:")
        return
    rows = _file_rows(files)
    # The selection is kept by row position: after the list changes, a new table starts unselected,
    # or the file that moved into a deleted file's row would be ticked (and Delete live) again.
    table_round = st.session_state.setdefault(TABLE_ROUND_KEY, 0)
    event = st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key=f"kb_files_{kb}_{table_round}",
        column_config={column: t(column) for column in FILE_COLUMNS},
    )
    selected = [rows[i]["file"] for i in event.selection.rows]
    if len(selected) == 1:
        _chunks(api, kb, str(selected[0]))
    st.caption(
        t("{selected} of {total} selected", selected=len(selected), total=len(rows))
        if selected
        else t("Select rows to act on files.")
    )
    col_dl, col_add, col_remove, col_delete = st.columns(4)
    if len(selected) == 1:
        col_dl.download_button(
            t("Download"),
            data=_downloader(api, kb, selected[0]),
            file_name=selected[0],
            icon=":material/download:",
            width="stretch",
            key="kb_download",
            on_click="ignore",
        )
    else:
        col_dl.button(
            t("Download"),
            disabled=True,
            icon=":material/download:",
            width="stretch",
            key="kb_download_off",
            help=t("Select one file."),
        )
    if col_add.button(t("Add to vector store"), disabled=not selected, width="stretch", key="kb_vs_add"):
        with st.spinner(t("Re-reading and indexing…")):
            done = call(lambda: api.update_docs(kb, selected), default=None)
        if done is not None:
            _new_table()
            _report(done, t("Indexed {count} file(s).", count=len(selected)))
    if col_remove.button(
        t("Remove from vector store"), disabled=not selected, width="stretch", key="kb_vs_remove"
    ):
        done = call(lambda: api.delete_docs(kb, selected, delete_content=False), default=None)
        if done is not None:
            _new_table()
            _report(
                done,
                t("Removed {count} file(s) from the vector store (the files stay).", count=len(selected)),
            )
    with col_delete.popover(
        t("Delete files"),
        disabled=not selected,
        width="stretch",
        type="primary",
        icon=":material/delete:",
        key=f"kb_files_delete_pop_{table_round}",
    ):
        st.markdown(
            t("Delete these {count} file(s) and their chunks? This cannot be undone.", count=len(selected))
            + "\n\n"
            + "\n".join(f"- `{name}`" for name in selected)
        )
        if st.button(t("Delete"), type="primary", key="kb_files_delete", icon=":material/delete_forever:"):
            done = call(lambda: api.delete_docs(kb, selected, delete_content=True), default=None)
            if done is not None:
                _new_table()  # the next run draws a fresh, unselected table and a closed popover
                _report(done, t("Deleted {count} file(s).", count=len(selected)))


def _chunks(api: ApiClient, kb: str, file_name: str) -> None:
    """The chunks of one file, as the retriever sees them; an edited text is saved and embedded again."""
    with st.expander(t("Chunks of {file}", file=file_name), icon=":material/segment:"):
        chunks = call(lambda: api.file_chunks(kb, file_name), default=None)
        if chunks is None:
            return
        if not chunks:
            st.info(t("This file has no chunks in the vector store."), icon=":material/info:")
            return
        rows = [{"id": c["id"], "text": c["page_content"]} for c in chunks]
        edit_round = st.session_state.setdefault(CHUNK_ROUND_KEY, 0)
        edited = st.data_editor(
            rows,
            key=f"kb_chunks_{kb}_{file_name}_{edit_round}",
            hide_index=True,
            disabled=["id"],
            num_rows="fixed",
            width="stretch",
            column_config={
                "id": st.column_config.TextColumn(t("id"), width="small"),
                "text": st.column_config.TextColumn(t("text"), width="large", max_chars=100_000),
            },
        )
        by_id = {c["id"]: c for c in chunks}
        changed = {
            row["id"]: str(row["text"] or "")
            for row, old in zip(edited, rows, strict=True)
            if row["text"] != old["text"]
        }
        st.caption(t("{count} chunk(s). Edit a text and save: the chunk is embedded again.", count=len(rows)))
        if st.button(t("Save chunks"), type="primary", disabled=not changed, key="kb_chunks_save"):
            if any(not text.strip() for text in changed.values()):
                st.error(t("A chunk's text must not be empty."), icon=":material/error:")
                return
            docs = {
                cid: {"page_content": text, "metadata": by_id[cid].get("metadata") or {}}
                for cid, text in changed.items()
            }
            try:
                missing = api.update_chunks(kb, docs)
            except ApiClientError as exc:
                show_error(exc)
                return
            st.session_state[CHUNK_ROUND_KEY] = edit_round + 1
            if missing:
                st.session_state[NOTICE_KEY] = t(
                    "Saved; these chunks were gone: {ids}", ids=", ".join(missing)
                )
                st.rerun()
            _notice(t("Saved {count} chunk(s); they are embedded again.", count=len(docs)))


def _new_table() -> None:
    st.session_state[TABLE_ROUND_KEY] = st.session_state.get(TABLE_ROUND_KEY, 0) + 1


def _downloader(api: ApiClient, kb: str, file_name: str):  # noqa: ANN202 - a deferred download callback
    def fetch() -> bytes:
        return api.download_doc(kb, file_name).content

    return fetch


def _report(result: Any, success: str) -> None:
    failed = (result or {}).get("failed_files") if isinstance(result, dict) else None
    if failed:
        for name, reason in failed.items():
            st.error(f"{name}: {reason}", icon=":material/error:")
    else:
        _notice(success)


def _maintenance(api: ApiClient, kb: str) -> None:
    st.subheader(t("Maintenance"))
    col_rebuild, col_delete = st.columns(2)
    with col_rebuild.container(border=True):
        st.markdown(t("**Rebuild vector store**"))
        st.caption(t("Re-reads every file in the folder and indexes it again."))
        if st.button(t("Rebuild"), key="kb_rebuild", icon=":material/autorenew:"):
            bar = st.progress(0.0, text=t("Starting…"))
            errors: list[str] = []
            try:
                for event in api.recreate_vector_store(kb):
                    total, finished = event.get("total") or 0, event.get("finished") or 0
                    if event.get("code", 200) >= 400:
                        errors.append(str(event.get("msg")))
                    if total:
                        bar.progress(min(finished / total, 1.0), text=str(event.get("msg", "")))
            except ApiClientError as exc:
                show_error(exc)
                return
            bar.progress(1.0, text=t("Done"))
            for error in errors:
                st.error(error, icon=":material/error:")
            if not errors:
                _notice(t("Rebuilt the vector store of {kb}.", kb=kb))
    with col_delete.container(border=True):
        st.markdown(t("**Delete knowledge base**"))
        confirm = st.checkbox(t("Yes, delete {kb} with all its files", kb=kb), key=f"kb_delete_confirm_{kb}")
        if st.button(t("Delete knowledge base"), disabled=not confirm, type="primary", key="kb_delete"):
            try:
                api.delete_knowledge_base(kb)
            except ApiClientError as exc:
                show_error(exc)
            else:
                st.session_state[PENDING_KEY] = None
                _notice(t("Deleted knowledge base {kb}.", kb=kb))


def page() -> None:
    api = client()
    st.title(t("Knowledge bases"))
    st.caption(
        t("Documents the assistant can cite: create a knowledge base, upload files, keep its index fresh.")
    )
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice, icon=":material/check_circle:")
    raw = call(api.knowledge_bases, default=None)
    if raw is None:
        return
    names = [kb if isinstance(kb, str) else kb.get("kb_name", "") for kb in raw]
    options = [*names, NEW_KB]
    # A knowledge base just created (or deleted) becomes the choice; set before the widget exists.
    if PENDING_KEY in st.session_state:
        st.session_state[PICK_KEY] = st.session_state.pop(PENDING_KEY)
    if st.session_state.get(PICK_KEY) not in options:
        st.session_state[PICK_KEY] = options[0]
    choice = st.selectbox(
        t("Knowledge base"),
        options,
        key=PICK_KEY,
        format_func={**{name: name for name in names}, NEW_KB: t(NEW_KB)}.__getitem__,
    )
    if choice != NEW_KB and has(KB_ACCESS_PATH) and st.session_state.get("_auth_me"):
        if st.button(t("Share"), key="kb_share", icon=":material/share:"):
            sharing_dialog(api, choice)
    if choice == NEW_KB:
        _create_form(api, names)
        return
    _upload(api, choice)
    jobs_panel(api, choice)
    _files(api, choice)
    _maintenance(api, choice)


page()
