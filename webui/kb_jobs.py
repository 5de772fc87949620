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

RUNNING = ("queued", "running")
FOLLOW_S = 120.0  # how long the upload button's run follows its job before leaving it to the panel
POLL_S = 0.5
SEEN_KEY = "kb_jobs_running"  # jobs this session saw running, to refresh the page when they end
KIND = {"upload": "Upload", "update": "Update", "recreate": "Rebuild", "temp_upload": "File chat upload"}


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
        detail = f"reading page {entry.get('pages_done') or 0} of {pages}" if pages else "reading"
    elif phase == "ocr":
        detail = f"OCR, page {entry.get('ocr_done') or 0} of {entry.get('ocr_total') or '?'}"
    elif phase == "embedding":
        detail = f"embedding, {entry.get('chunks_done') or 0} of {entry.get('chunks_total') or '?'} chunks"
    elif phase == "done":
        chunks = entry.get("chunks_total")
        detail = "done" + (f", {chunks} chunks" if chunks else "")
        if entry.get("ocr_pages"):
            detail += f", OCR on page(s) {', '.join(str(p) for p in entry['ocr_pages'])}"
        if entry.get("seconds") is not None:
            detail += f", {entry['seconds']:.1f} s"
    elif phase == "failed":
        detail = "failed"
    elif phase == "cancelled":
        detail = "cancelled"
    else:
        detail = "waiting"
    return f"{name}: {detail}"


def failed_files(job: dict[str, Any]) -> dict[str, str]:
    """Each file that did not get in, with why (the job's own reason when the whole job failed)."""
    if job.get("state") == "succeeded":
        return dict((job.get("result") or {}).get("failed_files") or {})
    reason = "cancelled" if job.get("state") == "cancelled" else job.get("error") or "the job failed"
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
            box.info("Still indexing: follow it under Ingestion jobs below.", icon=":material/hourglass_top:")
            return None
        time.sleep(POLL_S)


def _job(api: ApiClient, job: dict[str, Any]) -> None:
    state = job["state"]
    seconds = f" · {job['seconds']:.1f} s" if job.get("seconds") is not None else ""
    st.markdown(f"**{KIND.get(job['kind'], job['kind'])}** · {state}{seconds} · {job['created_at'][:19]}Z")
    draw_files(job)
    if state in RUNNING:
        if st.button("Cancel", key=f"kb_job_cancel_{job['id']}", icon=":material/cancel:"):
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
        st.warning(f"Ingestion jobs are not available: {exc}", icon=":material/warning:")
        return
    seen: set[str] = st.session_state.setdefault(SEEN_KEY, set())
    ended = {j["id"] for j in jobs if j["state"] not in RUNNING} & seen
    seen.difference_update(ended)
    seen.update(j["id"] for j in jobs if j["state"] in RUNNING)
    if ended:
        st.rerun(scope="app")  # a job finished: the file table above is out of date
    if not jobs:
        return
    with st.expander("Ingestion jobs", expanded=any(j["state"] in RUNNING for j in jobs)):
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
