"""Ingestion jobs through the real backend: waiting and background uploads, progress, cancel,
the seconds-per-file limit, a restart in the middle of a job, and two replicas sharing one queue.

The backend runs in-process (TestClient) on a real SQLite (or the embedded PostgreSQL), real
files, the bundled embedder and real OCR; scanned PDFs are drawn here, a page takes OCR about a
second, so a job of many pages is one that is surely still running when it is cancelled.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from configs import Settings
from server.api.app import create_app
from server.auth.principal import Principal
from server.launcher.harness import free_port
from tests.support import kb_fixtures as fx

KB = "jobs"
TEXT = "The quarterly report is due on Friday. 季度报告周五截止。\n" * 40


def settings_for(root: Path, **kb: Any) -> Settings:
    extra = {k: kb.pop(k) for k in list(kb) if k in ("database_url",)}
    return Settings(
        openai_api={"port": free_port()},
        data_dir=root / "data",
        log_dir=root / "logs",
        kb={"samples_kb": None, **kb},
        auth={"enabled": False},  # single-user mode: these stories are not about access
        **extra,
    )


def scanned_pdf(pages: int) -> bytes:
    """A PDF of ``pages`` pictures of text: every page goes to OCR."""
    images = [fx.text_image([f"第{i}页 扫描的会议记录", f"Scanned minutes, page {i}"]) for i in range(pages)]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=100, save_all=True, append_images=images[1:])
    return out.getvalue()


def upload(client: TestClient, files: list[tuple[str, bytes]], kb: str = KB, **fields: str):  # noqa: ANN201
    return client.post(
        "/knowledge_base/upload_docs",
        data={"knowledge_base_name": kb, **fields},
        files=[("files", (name, data)) for name, data in files],
    )


def job(client: TestClient, job_id: str) -> dict[str, Any]:
    response = client.get(f"/knowledge_base/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_for(client: TestClient, job_id: str, predicate, timeout: float = 300) -> dict[str, Any]:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = job(client, job_id)
        if predicate(found):
            return found
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never got there: {found}")


def files_of(client: TestClient, kb: str = KB) -> list[str]:
    return client.get("/knowledge_base/list_files", params={"knowledge_base_name": kb}).json()["data"]


def staged(settings: Settings, kb: str = KB) -> list[Path]:
    folder = Path(settings.data_dir) / "knowledge_base" / kb / ".staging"
    return list(folder.iterdir()) if folder.is_dir() else []


def job_folders(settings: Settings) -> list[Path]:
    root = Path(settings.data_dir) / "jobs"
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


@pytest.fixture(scope="module")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_for(tmp_path_factory.mktemp("jobs"))


@pytest.fixture(scope="module")
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings), base_url="http://127.0.0.1") as test_client:
        assert test_client.post(
            "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": KB}
        ).is_success
        yield test_client


def test_a_waiting_upload_answers_as_chatchat_did_and_leaves_a_job_with_each_files_story(
    client: TestClient, app_settings: Settings
) -> None:
    answer = upload(client, [("report.txt", TEXT.encode()), ("empty.txt", b"   ")])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["msg"] == "files uploaded and indexed"
    assert list(body["data"]) == ["failed_files"]  # Chatchat's shape, nothing added
    assert "no text found in empty.txt" in body["data"]["failed_files"]["empty.txt"]
    assert "report.txt" in files_of(client)

    [latest] = client.get("/knowledge_base/jobs", params={"limit": 1}).json()["data"]
    assert latest["kind"] == "upload" and latest["state"] == "succeeded" and latest["progress"] == 1.0
    assert latest["background"] is False and latest["attempts"] == 1 and latest["worker"]
    by_name = {f["name"]: f for f in latest["files"]}
    assert by_name["report.txt"]["phase"] == "done"
    assert by_name["report.txt"]["chunks_total"] == by_name["report.txt"]["chunks_done"] > 1
    assert by_name["report.txt"]["seconds"] > 0
    assert by_name["empty.txt"]["phase"] == "failed"
    assert "no text found" in by_name["empty.txt"]["error"]
    assert latest["seconds"] > 0 and latest["started_at"] and latest["finished_at"]
    assert latest["result"] == {"failed_files": body["data"]["failed_files"]}
    assert staged(app_settings) == [] and job_folders(app_settings) == []  # nothing left behind


def test_a_background_upload_answers_at_once_and_streams_its_progress(client: TestClient) -> None:
    answer = upload(client, [("scan.pdf", scanned_pdf(2))], background="true")
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["data"]["job_id"]
    assert answer.json()["data"]["job"]["state"] in ("queued", "running")

    events = []
    with client.stream("GET", f"/knowledge_base/jobs/{job_id}/events") as stream:
        assert stream.status_code == 200
        events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[-1]["state"] == "succeeded"
    phases = [e["files"][0]["phase"] for e in events]
    assert "ocr" in phases, phases  # the progress of the OCR pages was seen while it ran
    ocr_counts = [e["files"][0].get("ocr_done") for e in events if e["files"][0]["phase"] == "ocr"]
    assert ocr_counts == sorted(ocr_counts)
    done = events[-1]["files"][0]
    assert done["ocr_pages"] == [1, 2] and done["ocr_total"] == done["ocr_done"] == 2
    assert "scan.pdf" in files_of(client)
    hits = client.post(
        "/knowledge_base/search_docs",
        json={"knowledge_base_name": KB, "query": "Scanned minutes", "top_k": 1, "file_name": "scan.pdf"},
    ).json()
    assert hits and hits[0]["metadata"]["ocr_pages"] == [1, 2]


def test_cancel_stops_a_running_job_and_stores_nothing(client: TestClient, app_settings: Settings) -> None:
    before = files_of(client)
    job_id = upload(client, [("long-scan.pdf", scanned_pdf(25))], background="true").json()["data"]["job_id"]
    wait_for(client, job_id, lambda j: (j["files"][0].get("ocr_done") or 0) >= 1)
    second = upload(client, [("after.txt", TEXT.encode())], background="true").json()["data"]["job_id"]
    time.sleep(1.5)  # an idle worker would have taken it by now (the queue is polled every 0.5 s)
    assert job(client, second)["state"] == "queued"  # kb.ingest_workers is 1: it waits its turn
    cancelled = client.post(f"/knowledge_base/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["data"]["cancel_requested"] is True
    final = wait_for(client, job_id, lambda j: j["state"] not in ("queued", "running"))
    assert final["state"] == "cancelled"
    assert final["files"][0]["phase"] == "cancelled"
    assert final["files"][0]["ocr_done"] < 25  # stopped in the middle, not at the end
    assert wait_for(client, second, lambda j: j["state"] not in ("queued", "running"))["state"] == "succeeded"
    assert sorted(files_of(client)) == sorted([*before, "after.txt"])
    assert staged(app_settings) == [] and job_folders(app_settings) == []
    again = client.post(f"/knowledge_base/jobs/{job_id}/cancel")  # cancelling an ended job changes nothing
    assert again.json()["data"]["state"] == "cancelled"


def test_an_unknown_job_is_a_404(client: TestClient) -> None:
    for response in (
        client.get("/knowledge_base/jobs/nope"),
        client.post("/knowledge_base/jobs/nope/cancel"),
        client.get("/knowledge_base/jobs/nope/events"),
    ):
        assert response.status_code == 404 and "no ingestion job 'nope'" in response.json()["msg"]


def test_update_recreate_and_temp_uploads_are_jobs_with_their_old_answers(client: TestClient) -> None:
    plain = "plain"
    assert client.post(
        "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": plain}
    ).is_success
    assert upload(client, [("a.txt", TEXT.encode()), ("b.md", TEXT.encode())], kb=plain).status_code == 200
    updated = client.post(
        "/knowledge_base/update_docs", json={"knowledge_base_name": plain, "file_names": ["a.txt"]}
    )
    assert updated.status_code == 200 and updated.json()["data"] == {"failed_files": {}}
    with client.stream(
        "POST", "/knowledge_base/recreate_vector_store", json={"knowledge_base_name": plain}
    ) as stream:
        events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert [e["doc"] for e in events] == ["a.txt", "b.md"]
    assert all(e["code"] == 200 and e["total"] == 2 for e in events)
    temp = client.post("/knowledge_base/upload_temp_docs", files=[("files", ("memo.txt", TEXT.encode()))])
    assert temp.status_code == 200 and temp.json()["data"]["failed_files"] == {}
    kinds = [j["kind"] for j in client.get("/knowledge_base/jobs", params={"limit": 3}).json()["data"]]
    assert kinds == ["temp_upload", "recreate", "update"]
    queued = client.post(
        "/knowledge_base/recreate_vector_store", json={"knowledge_base_name": plain, "background": True}
    )
    assert queued.status_code == 200
    done = wait_for(client, queued.json()["data"]["job_id"], lambda j: j["state"] == "succeeded")
    assert [e["doc"] for e in done["result"]["events"]] == ["a.txt", "b.md"]
    assert sorted(files_of(client, plain)) == ["a.txt", "b.md"]


def test_a_file_over_the_seconds_limit_is_refused_naming_the_file_and_the_limit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, limits={"max_seconds_per_file": 0.01})
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        client.post("/knowledge_base/create_knowledge_base", json={"knowledge_base_name": KB})
        answer = upload(client, [("slow.pdf", scanned_pdf(2))])
        assert answer.status_code == 413, answer.text
        message = answer.json()["data"]["failed_files"]["slow.pdf"]
        assert message.startswith("slow.pdf: took longer than 0.01 s")
        assert "kb.limits.max_seconds_per_file" in message
        assert "slow.pdf" in answer.json()["msg"]
        assert files_of(client) == [] and staged(settings) == []


def test_a_job_interrupted_by_a_restart_is_resumed_by_the_next_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        client.post("/knowledge_base/create_knowledge_base", json={"knowledge_base_name": KB})
        job_id = upload(client, [("long-scan.pdf", scanned_pdf(3))], background="true").json()["data"][
            "job_id"
        ]
        wait_for(client, job_id, lambda j: (j["files"][0].get("ocr_done") or 0) >= 1)
    # the backend stopped in the middle: the job went back to the queue, its file kept beside it
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        final = wait_for(client, job_id, lambda j: j["state"] not in ("queued", "running"))
        assert final["state"] == "succeeded", final
        assert final["attempts"] == 2
        assert files_of(client) == ["long-scan.pdf"]
    assert job_folders(settings) == []


def test_a_job_whose_backend_died_is_resumed_once_it_goes_silent(tmp_path: Path) -> None:
    """A crash leaves the job 'running' with no one beating for it; after kb.job_stale_s it runs again."""
    settings = settings_for(tmp_path, job_stale_s=2)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        client.post("/knowledge_base/create_knowledge_base", json={"knowledge_base_name": KB})
        jobs = client.app.state.ingest_jobs  # type: ignore[attr-defined]
        portal = client.portal  # type: ignore[attr-defined]
        view = portal.call(
            lambda: jobs.submit(
                "upload",
                KB,
                Principal.local(),
                {
                    "split": {"chunk_size": 250, "chunk_overlap": 50, "zh_title_enhance": False},
                    "uploads": ["orphan.txt"],
                },
                file_names=["orphan.txt"],
                uploads=[("orphan.txt", TEXT.encode())],
                background=True,
            )
        )
        wait_for(client, view.id, lambda j: j["state"] == "succeeded")
        # now make the same happen as after a crash: a second job claimed by a backend that then died
        jobs.queue.stop()  # this backend takes nothing from the queue any more
        dead = portal.call(
            lambda: jobs.store.create(
                "upload",
                KB,
                None,
                {
                    "split": {"chunk_size": 250, "chunk_overlap": 50, "zh_title_enhance": False},
                    "uploads": ["crashed.txt"],
                },
                ["crashed.txt"],
                background=True,
            )
        )
        jobs._save_files(dead.id, [("crashed.txt", TEXT.encode())])
        assert portal.call(lambda: jobs.store.claim(dead.id, "a backend that crashed"))
        # and one recorded whose queue message never got written (the backend died in between)
        lost = portal.call(
            lambda: jobs.store.create(
                "upload",
                KB,
                None,
                {
                    "split": {"chunk_size": 250, "chunk_overlap": 50, "zh_title_enhance": False},
                    "uploads": ["lost.txt"],
                },
                ["lost.txt"],
                background=True,
            )
        )
        jobs._save_files(lost.id, [("lost.txt", TEXT.encode())])
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        final = wait_for(client, dead.id, lambda j: j["state"] == "succeeded")
        assert final["attempts"] == 2 and final["worker"] != "a backend that crashed"
        assert wait_for(client, lost.id, lambda j: j["state"] == "succeeded")["attempts"] == 1
        assert {"crashed.txt", "lost.txt"} <= set(files_of(client))


def test_a_job_queued_on_one_replica_is_run_by_another_and_watched_from_the_first(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two backends on one PostgreSQL and one data folder; A only queues (ingest_workers: 0)."""
    common = {"database_url": postgres_url}
    a_settings = settings_for(tmp_path, ingest_workers=0, **common)
    b_settings = settings_for(tmp_path, ingest_workers=1, **common)
    with TestClient(create_app(a_settings), base_url="http://127.0.0.1") as a:
        with TestClient(create_app(b_settings), base_url="http://127.0.0.1") as b:
            b_worker = b.app.state.ingest_jobs.worker_id  # type: ignore[attr-defined]
            assert a.post(
                "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": KB}
            ).is_success
            answer = upload(a, [("report.txt", TEXT.encode())])  # A waits for what B does
            assert answer.status_code == 200 and answer.json()["data"] == {"failed_files": {}}
            [first] = a.get("/knowledge_base/jobs", params={"limit": 1}).json()["data"]
            assert first["worker"] == b_worker and first["state"] == "succeeded"

            job_id = upload(a, [("long-scan.pdf", scanned_pdf(25))], background="true").json()["data"][
                "job_id"
            ]
            with a.stream("GET", f"/knowledge_base/jobs/{job_id}/events") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        seen = json.loads(line[6:])
                        if (seen["files"][0].get("ocr_done") or 0) >= 1:
                            break
            assert seen["worker"] == b_worker  # B runs it; A sees its progress
            assert a.post(f"/knowledge_base/jobs/{job_id}/cancel").status_code == 200  # asked on A
            final = wait_for(a, job_id, lambda j: j["state"] not in ("queued", "running"))
            assert final["state"] == "cancelled" and final["files"][0]["ocr_done"] < 25  # B stopped
            assert files_of(b) == ["report.txt"]
