"""Two backends on one PostgreSQL (pgvector) and one shared data folder serve one site at once.

Backend A runs the whole chain with the bundled model; backend B is a second ``startup.py --api``
with the same settings, using A's model service, as a load balancer's second replica would.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from server.launcher.harness import RunningStack, start_stack
from tests.e2e.conftest import sse_events

pytestmark = pytest.mark.slow
TIMEOUT = 180


def call(stack: RunningStack, method: str, path: str, **kwargs) -> httpx.Response:
    response = httpx.request(method, f"{stack.urls.api}{path}", timeout=TIMEOUT, **kwargs)
    assert response.status_code == 200, response.text
    return response


def files_of(stack: RunningStack, kb: str) -> set[str]:
    return set(
        call(stack, "GET", "/knowledge_base/list_files", params={"knowledge_base_name": kb}).json()["data"]
    )


def upload(stack: RunningStack, kb: str, name: str, text: str) -> None:
    data = call(
        stack,
        "POST",
        "/knowledge_base/upload_docs",
        data={"knowledge_base_name": kb},
        files=[("files", (name, text.encode()))],
    ).json()["data"]
    assert data == {"failed_files": {}}


def start_both(
    tmp_path: Path, common: dict[str, str], model: RunningStack | None = None
) -> list[RunningStack]:
    """A (model chain + backend) and B (backend only), started at the same moment."""
    started: dict[str, RunningStack] = {}
    errors: list[BaseException] = []

    def start(name: str, args: tuple[str, ...], env: dict[str, str]) -> None:
        try:
            started[name] = start_stack(tmp_path / name, args, env=env)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    a = threading.Thread(target=start, args=("a", ("--all-api",), common))
    a.start()
    a.join()
    if errors:
        raise errors[0]
    model_env = {
        "CHATCHAT_CONTROLLER__PORT": started["a"].urls.controller.rsplit(":", 1)[1],
        "CHATCHAT_OPENAI_API__PORT": started["a"].urls.openai_api.rsplit(":", 1)[1],
    }
    start("b", ("--api",), {**common, **model_env})
    if errors:
        started["a"].stop()
        raise errors[0]
    return [started["a"], started["b"]]


def test_two_backends_serve_the_same_kbs_uploads_deletes_and_conversations(
    tmp_path: Path, postgres_url: str
) -> None:
    common = {
        "CHATCHAT_DATABASE_URL": postgres_url,
        "CHATCHAT_DATA_DIR": str(tmp_path / "shared-data"),  # the folder every replica must share
    }
    a, b = start_both(tmp_path, common)
    try:
        assert "pgvector" == call(a, "GET", "/knowledge_base/list_vector_store_types").json()["data"][0]
        call(a, "POST", "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": "team"})
        assert "team" in call(b, "GET", "/knowledge_base/list_knowledge_bases").json()["data"]

        uploads = [
            (a if i % 2 else b, f"doc{i}.txt", f"第{i}号文件：项目代号是星辰{i}。Project code is STAR-{i}.\n")
            for i in range(6)
        ]
        threads = [threading.Thread(target=upload, args=(s, "team", n, t)) for s, n, t in uploads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        names = {n for _, n, _ in uploads}
        assert files_of(a, "team") == files_of(b, "team") == names
        listed = call(
            a, "POST", "/knowledge_base/search_docs", json={"knowledge_base_name": "team", "query": ""}
        )
        assert {h["metadata"]["source"] for h in listed.json()} == names
        hits = call(
            b,
            "POST",
            "/knowledge_base/search_docs",
            json={"knowledge_base_name": "team", "query": "STAR-3", "top_k": 1, "hybrid": True},
        ).json()
        assert hits[0]["metadata"]["source"] == "doc3.txt"

        call(
            b,
            "POST",
            "/knowledge_base/delete_docs",
            json={"knowledge_base_name": "team", "file_names": ["doc3.txt"], "delete_content": True},
        )
        assert files_of(a, "team") == names - {"doc3.txt"}
        after = call(
            a,
            "POST",
            "/knowledge_base/search_docs",
            json={"knowledge_base_name": "team", "query": "STAR-3", "top_k": 6, "hybrid": True},
        ).json()
        assert all(h["metadata"]["source"] != "doc3.txt" for h in after)

        conversation = call(
            a, "POST", "/conversations", json={"name": "Shared", "chat_type": "llm_chat"}
        ).json()["data"]
        assert conversation["id"] in {c["id"] for c in call(b, "GET", "/conversations").json()["data"]}

        temp = call(
            a,
            "POST",
            "/knowledge_base/upload_temp_docs",
            files=[
                (
                    "files",
                    ("memo.txt", "会议改到周五下午三点。The meeting moved to Friday at three.".encode()),
                )
            ],
        )
        knowledge_id = temp.json()["data"]["id"]
    finally:
        for stack in (b, a):
            stack.stop()

    a, b = start_both(tmp_path, common)  # both restarted: nothing lived in a process
    try:
        answer = call(
            b,
            "POST",
            "/chat/file_chat",
            json={
                "query": "When is the meeting?",
                "knowledge_id": knowledge_id,
                "max_tokens": 8,
                "prompt_name": "english",
            },
        )
        [final] = sse_events(answer.text.splitlines())
        assert final["sources"][0]["file_name"] == "memo.txt" and "Friday" in final["sources"][0]["text"]
        download = call(
            a,
            "GET",
            "/knowledge_base/download_temp_doc",
            params={"knowledge_id": knowledge_id, "file_name": "memo.txt"},
        )
        assert "Friday" in download.text
        assert files_of(b, "team") == names - {"doc3.txt"}
    finally:
        for stack in (b, a):
            stack.stop()
