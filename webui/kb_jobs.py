"""The knowledge-base page's ingestion jobs: uploads run in the background, with a bar per file.

An upload is one background job on the backend. The button's run follows it for a while with a
live bar per file (pages read, pages OCR'd, chunks embedded), polling in short steps, so any
click on the page interrupts the wait (Streamlit reruns the script) while the job goes on. The
panel below the upload box lists the knowledge base's running and recent jobs, redraws itself
every two seconds while one runs (a fragment, not the whole page), offers Cancel, and shows each
failed file with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import streamlit as st

from webui.api_client import ApiClient, ApiClientError
from webui.i18n import N_, t

RUNNING = ("queued", "running")
FOLLOW_S = 120.0  # how long the upload button's run follows its job before leaving it to the panel
POLL_S = 0.5
SEEN_KEY = "kb_jobs_running"  # jobs this session saw running, to refresh the page when they end
KIND = {
    "upload": N_("Upload"),
    "update": N_("Update"),
    "recreate": N_("Rebuild"),
    "temp_upload": N_("File chat upload"),
}
STATES = {
    "queued": N_("queued"),
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
}


def file_fraction(entry: dict[str, Any]) -> float:
    """How far one file is (0..1): reading pages, then OCR, then embedding chunks."""
    phase = entry.get("phase", "queued")

    def part(done: str, total: str) -> float:
        count = entry.get(total) or 0
        return min(1.0, (entry.get(done) or 0) / count) if count else 0.0

    if phase in ("done", "failed", "cancelled"):
        return 1.0
    if phase == "reading":
        return 0.3 * part("pages_done", "pages_total")
    if phase == "ocr":
        return 0.3 + 0.3 * part("ocr_done", "ocr_total")
    if phase == "embedding":
        return 0.6 + 0.4 * part("chunks_done", "chunks_total")
    return 0.0


def file_label(entry: dict[str, Any]) -> str:
    """One file's line under its bar, in words."""
    name, phase = entry.get("name", "?"), entry.get("phase", "queued")
    if phase == "reading":
        pages = entry.get("pages_total")
        detail = (
            t("reading page {done} of {total}", done=entry.get("pages_done") or 0, total=pages)
            if pages
            else t("reading")
        )
    elif phase == "ocr":
        detail = t(
            "OCR, page {done} of {total}",
            done=entry.get("ocr_done") or 0,
            total=entry.get("ocr_total") or "?",
        )
    elif phase == "embedding":
        detail = t(
            "embedding, {done} of {total} chunks",
            done=entry.get("chunks_done") or 0,
            total=entry.get("chunks_total") or "?",
        )
    elif phase == "done":
        chunks = entry.get("chunks_total")
        detail = t("done, {count} chunks", count=chunks) if chunks else t("done")
        if entry.get("ocr_pages"):
            detail += t(", OCR on page(s) {pages}", pages=", ".join(str(p) for p in entry["ocr_pages"]))
        if entry.get("seconds") is not None:
            detail += f", {entry['seconds']:.1f} s"
    elif phase == "failed":
        detail = t("failed")
    elif phase == "cancelled":
        detail = t("cancelled")
    else:
        detail = t("waiting")
    return f"{name}: {detail}"


def failed_files(job: dict[str, Any]) -> dict[str, str]:
    """Each file that did not get in, with why (the job's own reason when the whole job failed)."""
    if job.get("state") == "succeeded":
        return dict((job.get("result") or {}).get("failed_files") or {})
    reason = t("cancelled") if job.get("state") == "cancelled" else job.get("error") or t("the job failed")
    out = {f["name"]: f.get("error") or reason for f in job.get("files") or [] if f.get("phase") != "done"}
    return out or {"(job)": reason}


def draw_files(job: dict[str, Any]) -> None:
    for entry in job.get("files") or []:
        st.progress(file_fraction(entry), text=file_label(entry))


def upload_as_job(api: ApiClient, kb: str, files: Sequence[Any], **options: Any) -> dict[str, str] | None:
    """Upload ``files`` as one background job and follow it here; the failed files when it ended.

    None when it is still running after ``FOLLOW_S``: the panel goes on showing it.
    """
    try:
        job_id = api.upload_docs_job(kb, [(f.name, f.getvalue()) for f in files], **options)
    except ApiClientError as exc:
        return {f.name: str(exc) for f in files}
    box = st.empty()
    deadline = time.monotonic() + FOLLOW_S
    while True:
        try:
            job = api.ingest_job(job_id)
        except ApiClientError as exc:
            box.empty()
            return {f.name: str(exc) for f in files}
        with box.container():
            draw_files(job)
        if job["state"] not in RUNNING:
            box.empty()
            return failed_files(job)
        if time.monotonic() > deadline:
            st.session_state.setdefault(SEEN_KEY, set()).add(job_id)
            box.info(
                t("Still indexing: follow it under Ingestion jobs below."), icon=":material/hourglass_top:"
            )
            return None
        time.sleep(POLL_S)


def _job(api: ApiClient, job: dict[str, Any]) -> None:
    state = job["state"]
    seconds = f" · {job['seconds']:.1f} s" if job.get("seconds") is not None else ""
    kind = t(KIND[job["kind"]]) if job["kind"] in KIND else job["kind"]
    shown_state = t(STATES[state]) if state in STATES else state
    stamp = job["created_at"][:19] + "Z"  # UTC
    st.markdown(f"**{kind}** · {shown_state}{seconds} · {stamp}")
    draw_files(job)
    if state in RUNNING:
        if st.button(t("Cancel"), key=f"kb_job_cancel_{job['id']}", icon=":material/cancel:"):
            try:
                api.cancel_ingest_job(job["id"])
            except ApiClientError as exc:
                st.error(str(exc), icon=":material/error:")
    elif state != "succeeded" or failed_files(job):
        for name, reason in failed_files(job).items():
            st.error(f"{name}: {reason}", icon=":material/error:")


def _panel(api: ApiClient, kb: str) -> None:
    try:
        jobs = api.ingest_jobs(kb, limit=5)
    except ApiClientError as exc:
        st.warning(t("Ingestion jobs are not available: {reason}", reason=exc), icon=":material/warning:")
        return
    seen: set[str] = st.session_state.setdefault(SEEN_KEY, set())
    ended = {j["id"] for j in jobs if j["state"] not in RUNNING} & seen
    seen.difference_update(ended)
    seen.update(j["id"] for j in jobs if j["state"] in RUNNING)
    if ended:
        st.rerun(scope="app")  # a job finished: the file table above is out of date
    if not jobs:
        return
    with st.expander(t("Ingestion jobs"), expanded=any(j["state"] in RUNNING for j in jobs)):
        for job in jobs:
            with st.container(border=True):
                _job(api, job)


def jobs_panel(api: ApiClient, kb: str) -> None:
    """Running and recent jobs of ``kb``; while one runs, the panel redraws itself every 2 s."""
    try:
        active = any(j["state"] in RUNNING for j in api.ingest_jobs(kb, limit=5))
    except ApiClientError:
        active = False
    st.fragment(run_every=2.0 if active else None)(_panel)(api, kb)
