"""Ingestion jobs on the real stack: a client that leaves cancels its upload; chat answers meanwhile."""

from __future__ import annotations

import time

import httpx
import pytest

from server.launcher.harness import RunningStack
from tests.unit.test_ingest_jobs import TEXT, scanned_pdf

pytestmark = pytest.mark.slow
KB = "jobs_stack"


def latest_job(stack: RunningStack) -> dict:
    jobs = httpx.get(f"{stack.urls.api}/knowledge_base/jobs", params={"limit": 1}, timeout=30).json()["data"]
    return jobs[0]


def files_of(stack: RunningStack) -> list[str]:
    return httpx.get(
        f"{stack.urls.api}/knowledge_base/list_files", params={"knowledge_base_name": KB}, timeout=30
    ).json()["data"]


@pytest.fixture(scope="module")
def kb(stack: RunningStack) -> str:
    created = httpx.post(
        f"{stack.urls.api}/knowledge_base/create_knowledge_base",
        json={"knowledge_base_name": KB},
        timeout=60,
    )
    assert created.status_code == 200, created.text
    return KB


def test_a_client_that_disconnects_cancels_the_upload_it_started(stack: RunningStack, kb: str) -> None:
    with pytest.raises(httpx.ReadTimeout):  # the client gives up long before 25 pages are OCR'd
        httpx.post(
            f"{stack.urls.api}/knowledge_base/upload_docs",
            data={"knowledge_base_name": kb},
            files=[("files", ("left-behind.pdf", scanned_pdf(25)))],
            timeout=httpx.Timeout(60, read=4),
        )
    deadline = time.monotonic() + 60
    while (job := latest_job(stack))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"the job went on after its client left: {job}"
        time.sleep(0.5)
    assert job["files"][0]["name"] == "left-behind.pdf"
    assert job["state"] == "cancelled", job
    assert (job["files"][0]["ocr_done"] or 0) < 25
    assert "left-behind.pdf" not in files_of(stack)


def test_chat_answers_while_a_big_ingest_runs(stack: RunningStack, kb: str) -> None:
    """How fast is bench/ingest.py's question; here: the chat is not stuck behind the job."""
    big = ("# Notes\n\n" + TEXT) * 30
    queued = httpx.post(
        f"{stack.urls.api}/knowledge_base/upload_docs",
        data={"knowledge_base_name": kb, "background": "true"},
        files=[("files", ("big.md", big.encode()))],
        timeout=60,
    )
    job_id = queued.json()["data"]["job_id"]
    deadline = time.monotonic() + 60
    while (
        httpx.get(f"{stack.urls.api}/knowledge_base/jobs/{job_id}", timeout=30).json()["data"]["state"]
        == "queued"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    chat = httpx.post(
        f"{stack.urls.api}/chat/chat",
        json={"query": "Say hi.", "stream": False, "max_tokens": 8, "temperature": 0},
        timeout=120,
    )
    assert chat.status_code == 200, chat.text
    during = httpx.get(f"{stack.urls.api}/knowledge_base/jobs/{job_id}", timeout=30).json()["data"]
    assert during["state"] in ("running", "succeeded")
    cancelled = httpx.post(f"{stack.urls.api}/knowledge_base/jobs/{job_id}/cancel", timeout=30)
    assert cancelled.status_code == 200
