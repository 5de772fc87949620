"""A user's knowledge bases on the real stack: upload, search, chat with citations, update, delete."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from server.launcher.harness import RunningStack
from tests.e2e.conftest import metric, sse_events
from tests.support import kb_fixtures as fx

pytestmark = pytest.mark.slow

TIMEOUT = 180


def api(stack: RunningStack, path: str, **kwargs) -> httpx.Response:
    method = (
        "GET"
        if path.split("?")[0]
        in (
            "/knowledge_base/list_files",
            "/knowledge_base/list_knowledge_bases",
            "/knowledge_base/download_doc",
            "/knowledge_base/list_embed_models",
            "/knowledge_base/list_knowledge_base_details",
        )
        else "POST"
    )
    return httpx.request(method, f"{stack.urls.api}{path}", timeout=TIMEOUT, **kwargs)


def create(stack: RunningStack, name: str, **fields) -> None:
    response = api(
        stack, "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": name, **fields}
    )
    assert response.status_code == 200, response.text


def upload(stack: RunningStack, kb: str, paths: list[Path], **form) -> dict:
    files = [("files", (p.name, p.read_bytes())) for p in paths]
    response = api(
        stack,
        "/knowledge_base/upload_docs",
        files=files,
        data={
            "knowledge_base_name": kb,
            **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in form.items()},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def search(stack: RunningStack, kb: str, query: str, **fields) -> list[dict]:
    response = api(
        stack, "/knowledge_base/search_docs", json={"knowledge_base_name": kb, "query": query, **fields}
    )
    assert response.status_code == 200, response.text
    return response.json()


def db_rows(stack: RunningStack, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(stack.data_dir / "info.db") as connection:
        return connection.execute(sql, args).fetchall()


def chunk_ids_in_db(stack: RunningStack, kb: str, file_name: str) -> set[str]:
    return {
        row[0]
        for row in db_rows(
            stack,
            "SELECT d.doc_id FROM file_doc d JOIN knowledge_file f ON d.file_id = f.id "
            "JOIN knowledge_base k ON f.kb_id = k.id WHERE k.kb_name = ? AND f.file_name = ?",
            kb,
            file_name,
        )
    }


def chunks_of(stack: RunningStack, kb: str, file_name: str) -> list[dict]:
    return search(stack, kb, "", file_name=file_name)


def stored_messages(stack: RunningStack, conversation_id: str) -> list[dict]:
    response = httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["data"]


BACKUPS = {
    "query": "How long are database backups kept?",
    "knowledge_base_name": "samples",
    "stream": True,
    "temperature": 0,
    "prompt_name": "english",
}


def test_samples_knowledge_base_is_there_on_first_start(stack: RunningStack) -> None:
    assert "samples" in api(stack, "/knowledge_base/list_knowledge_bases").json()["data"]
    files = api(stack, "/knowledge_base/list_files", params={"knowledge_base_name": "samples"}).json()["data"]
    assert {"员工手册.md", "operations.md"} <= set(files)
    models = api(stack, "/knowledge_base/list_embed_models").json()["data"]
    assert [m["name"] for m in models if m["default"]] == ["usem3-multilingual"]


def test_upload_search_chat_and_delete_a_document(stack: RunningStack, tmp_path: Path) -> None:
    create(stack, "story")
    notes = fx.write_txt(tmp_path)
    assert upload(stack, "story", [notes]) == {"failed_files": {}}

    hits = search(stack, "story", "Where is the lighthouse ledger kept?")
    assert hits and hits[0]["metadata"]["source"] == "notes.txt"
    assert "cabinet seven" in "".join(h["page_content"] for h in hits)
    first = hits[0]
    assert (
        notes.read_text(encoding="utf-8")[first["metadata"]["start"] : first["metadata"]["end"]]
        == first["page_content"]
    )

    with httpx.stream(
        "POST",
        f"{stack.urls.api}/chat/knowledge_base_chat",
        timeout=TIMEOUT,
        json={
            "query": "Where is the lighthouse ledger kept?",
            "knowledge_base_name": "story",
            "stream": True,
            "max_tokens": 24,
            "temperature": 0,
            "prompt_name": "english",
        },
    ) as response:
        assert response.status_code == 200
        events = sse_events(response.iter_lines())
    answers, final = events[:-1], events[-1]
    assert answers and set(answers[0]) == {"answer", "message_id"}  # the id, for feedback, comes first
    assert all(set(e) == {"answer"} for e in answers[1:])
    assert "".join(e["answer"] for e in answers).strip()
    assert final["docs"][0].startswith("出处 [1] [notes.txt](")
    source = final["sources"][0]
    assert source["file_name"] == "notes.txt" and "cabinet seven" in source["text"]
    assert source["score"] <= 1.0 and source["end"] > source["start"]
    download = httpx.get(source["url"].replace("http://testserver/", f"{stack.urls.api}/"), timeout=30)
    assert download.status_code == 200 and download.content == notes.read_bytes()
    assert download.headers["content-disposition"].startswith("attachment")

    ids = chunk_ids_in_db(stack, "story", "notes.txt")
    assert ids and ids == {h["id"] for h in chunks_of(stack, "story", "notes.txt")}
    response = api(
        stack,
        "/knowledge_base/delete_docs",
        json={"knowledge_base_name": "story", "file_names": ["notes.txt"], "delete_content": True},
    )
    assert response.json()["data"]["failed_files"] == {}
    assert chunks_of(stack, "story", "notes.txt") == []
    assert all(h["metadata"]["source"] != "notes.txt" for h in search(stack, "story", "lighthouse ledger"))
    assert chunk_ids_in_db(stack, "story", "notes.txt") == set()
    assert (
        api(stack, "/knowledge_base/list_files", params={"knowledge_base_name": "story"}).json()["data"] == []
    )
    assert not (stack.data_dir / "knowledge_base" / "story" / "content" / "notes.txt").exists()


def test_nothing_matched_says_so_instead_of_inventing_context(stack: RunningStack) -> None:
    response = api(
        stack,
        "/chat/knowledge_base_chat",
        json={
            "query": "What is the airspeed of an unladen swallow?",
            "knowledge_base_name": "samples",
            "score_threshold": 0.01,
            "max_tokens": 8,
        },
    )
    event = sse_events(response.text.splitlines())[-1]
    assert event["sources"] == []
    assert "未找到相关文档" in event["docs"][0]


def test_return_direct_gives_the_chunks_without_the_model(stack: RunningStack) -> None:
    response = api(
        stack,
        "/chat/knowledge_base_chat",
        json={
            "query": "How long are database backups kept?",
            "knowledge_base_name": "samples",
            "return_direct": True,
        },
    )
    events = sse_events(response.text.splitlines())
    assert len(events) == 1 and "answer" not in events[0]
    assert "ninety days" in events[0]["sources"][0]["text"]
    assert events[0]["message_id"]  # stored too, with its sources


def test_a_chinese_question_finds_its_chinese_document(stack: RunningStack) -> None:
    hits = search(stack, "samples", "出差回来以后多长时间内必须交报销单？", top_k=1)
    assert hits[0]["metadata"]["source"] == "员工手册.md"
    assert "三十天内提交报销" in hits[0]["page_content"]


@pytest.mark.skipif(not fx.CJK_FONT.exists(), reason="fonts-wqy-zenhei is not installed")
def test_every_supported_type_is_indexed_and_ocr_reads_an_image(stack: RunningStack, tmp_path: Path) -> None:
    create(stack, "formats")
    paths = [w(tmp_path) for w in fx.TEXT_WRITERS + fx.FONT_WRITERS + fx.OCR_WRITERS]
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a pdf")
    unsupported = tmp_path / "program.exe"
    unsupported.write_bytes(b"MZ")
    failed = upload(stack, "formats", [*paths, broken, unsupported])["failed_files"]
    assert set(failed) == {"broken.pdf", "program.exe"}
    assert "unsupported file type '.exe'" in failed["program.exe"]
    listed = api(stack, "/knowledge_base/list_files", params={"knowledge_base_name": "formats"}).json()[
        "data"
    ]
    assert set(listed) == {p.name for p in paths}
    for path in paths:
        assert chunks_of(stack, "formats", path.name), path.name
    hits = search(stack, "formats", "仓库温度不能超过多少度", top_k=1)
    assert hits[0]["metadata"]["source"] == "scan.png" and fx.OCR_ZH in hits[0]["page_content"]


def test_update_replaces_a_files_chunks_exactly(stack: RunningStack, tmp_path: Path) -> None:
    create(stack, "updates")
    doc = tmp_path / "policy.md"
    doc.write_text(
        "# 政策\n\n旧规定：午餐时间是十二点。\n\n## Old\n\nThe old rule says lunch is at noon.\n",
        encoding="utf-8",
    )
    upload(stack, "updates", [doc])
    before = {h["id"] for h in chunks_of(stack, "updates", "policy.md")}
    doc.write_text("# 政策\n\n新规定：午餐时间改为一点。\n", encoding="utf-8")
    upload(stack, "updates", [doc], override=True, to_vector_store=False)
    response = api(
        stack,
        "/knowledge_base/update_docs",
        json={"knowledge_base_name": "updates", "file_names": ["policy.md"]},
    )
    assert response.json()["data"]["failed_files"] == {}
    after = chunks_of(stack, "updates", "policy.md")
    assert [h["page_content"] for h in after] == ["政策\n新规定：午餐时间改为一点。"]
    assert not before & {h["id"] for h in after}
    assert chunk_ids_in_db(stack, "updates", "policy.md") == {h["id"] for h in after}
    assert all("noon" not in h["page_content"] for h in search(stack, "updates", "lunch at noon", top_k=5))
    details = api(
        stack, "/knowledge_base/list_files", params={"knowledge_base_name": "updates", "details": True}
    ).json()["data"]
    assert details[0]["file_version"] == 2 and details[0]["docs_count"] == 1

    chunk_id = after[0]["id"]
    response = api(
        stack,
        "/knowledge_base/update_docs_by_id",
        json={
            "knowledge_base_name": "updates",
            "docs": {chunk_id: {"page_content": "午餐改到两点", "metadata": {}}},
        },
    )
    assert response.status_code == 200, response.text
    assert [h["page_content"] for h in chunks_of(stack, "updates", "policy.md")] == ["午餐改到两点"]


def test_two_concurrent_uploads_into_one_kb_lose_nothing(stack: RunningStack, tmp_path: Path) -> None:
    create(stack, "busy")
    batches = []
    for b in range(2):
        batch = []
        for i in range(4):
            path = tmp_path / f"b{b}-{i}.txt"
            path.write_text(
                f"批次{b}文件{i}：这是第{b * 4 + i}号测试文档。Document {b}-{i} body text.\n" * 3,
                encoding="utf-8",
            )
            batch.append(path)
        batches.append(batch)
    results: list[dict] = []
    threads = [threading.Thread(target=lambda b=b: results.append(upload(stack, "busy", b))) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"failed_files": {}}] * 2
    names = {p.name for batch in batches for p in batch}
    assert (
        set(api(stack, "/knowledge_base/list_files", params={"knowledge_base_name": "busy"}).json()["data"])
        == names
    )
    stored = search(stack, "busy", "")
    assert {h["metadata"]["source"] for h in stored} == names
    db_ids = {i for name in names for i in chunk_ids_in_db(stack, "busy", name)}
    assert db_ids == {h["id"] for h in stored}


def test_recreate_vector_store_streams_progress_and_ends_consistent(
    stack: RunningStack, tmp_path: Path
) -> None:
    create(stack, "rebuild", hybrid=True)
    paths = [fx.write_txt(tmp_path), fx.write_md(tmp_path), fx.write_csv(tmp_path)]
    upload(stack, "rebuild", paths)
    before = {h["page_content"] for h in search(stack, "rebuild", "")}
    with httpx.stream(
        "POST",
        f"{stack.urls.api}/knowledge_base/recreate_vector_store",
        timeout=TIMEOUT,
        json={"knowledge_base_name": "rebuild"},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
    assert [(e["code"], e["finished"], e["total"]) for e in events] == [(200, i, 3) for i in (1, 2, 3)]
    assert events[0]["msg"] == "(1 / 3): guide.md"
    stored = search(stack, "rebuild", "")
    assert {h["page_content"] for h in stored} == before
    db_ids = {i for p in paths for i in chunk_ids_in_db(stack, "rebuild", p.name)}
    assert db_ids == {h["id"] for h in stored}
    hybrid = search(stack, "rebuild", "蓝鲸档案馆", hybrid=True)
    assert hybrid and "蓝鲸档案馆" in hybrid[0]["page_content"]
    assert list(
        (stack.data_dir / "knowledge_base" / "rebuild" / "vector_store" / "usem3-multilingual").glob("bm25-*")
    )


def test_file_chat_answers_from_a_temporary_upload(stack: RunningStack, tmp_path: Path) -> None:
    notes = fx.write_txt(tmp_path)
    response = api(
        stack, "/knowledge_base/upload_temp_docs", files=[("files", (notes.name, notes.read_bytes()))]
    )
    knowledge_id = response.json()["data"]["id"]
    response = api(
        stack,
        "/chat/file_chat",
        json={
            "query": "Where is the lighthouse ledger?",
            "knowledge_id": knowledge_id,
            "max_tokens": 8,
            "prompt_name": "english",
            "conversation_id": "file-chat-story",
        },
    )
    [final] = sse_events(response.text.splitlines())  # stream=false: one event with everything
    assert final["sources"][0]["file_name"] == "notes.txt"
    [stored] = stored_messages(stack, "file-chat-story")
    assert (stored["id"], stored["chat_type"]) == (final["message_id"], "file_chat")
    assert stored["response"] == final["answer"] and stored["meta"]["sources"] == final["sources"]
    missing = api(stack, "/chat/file_chat", json={"query": "x", "knowledge_id": "0" * 32})
    assert missing.status_code == 404


def test_a_knowledge_base_answer_is_kept_in_its_conversation_with_its_sources(stack: RunningStack) -> None:
    conversation = api(stack, "/conversations", json={"name": "Backups", "chat_type": "knowledge_base_chat"})
    cid = conversation.json()["data"]["id"]
    observed = metric(stack, "chat_time_to_first_token_seconds_count", model="smollm2")

    events = sse_events(
        api(
            stack, "/chat/knowledge_base_chat", json={**BACKUPS, "conversation_id": cid, "max_tokens": 24}
        ).text.splitlines()
    )
    answers, final = events[:-1], events[-1]

    [stored] = stored_messages(stack, cid)
    assert stored["id"] == events[0]["message_id"]
    assert (stored["chat_type"], stored["model_name"]) == ("knowledge_base_chat", "smollm2")
    assert stored["query"] == BACKUPS["query"]
    assert stored["response"] == "".join(e["answer"] for e in answers)
    assert stored["meta"]["docs"] == final["docs"] and stored["meta"]["sources"] == final["sources"]
    assert any(s["file_name"] == "operations.md" for s in stored["meta"]["sources"])
    assert metric(stack, "chat_time_to_first_token_seconds_count", model="smollm2") == observed + 1

    rating = {"message_id": stored["id"], "score": 100, "reason": "cited"}
    feedback = api(stack, "/chat/feedback", json=rating)
    assert feedback.json()["code"] == 200
    assert stored_messages(stack, cid)[0]["feedback_score"] == 100

    export = httpx.get(f"{stack.urls.api}/conversations/{cid}/export", timeout=30).text
    answer_at = export.index(stored["response"])
    for source in final["sources"]:
        assert f"- [{source['index']}] [{source['file_name']}]({source['url']})" in export[answer_at:]


def test_a_client_that_leaves_mid_answer_still_leaves_the_answer_stored(stack: RunningStack) -> None:
    body = {
        **BACKUPS,
        "conversation_id": "left-early",
        "max_tokens": 200,
        "temperature": 0.7,
        "query": "Explain in detail how database backups are kept and restored.",
    }
    url = f"{stack.urls.api}/chat/knowledge_base_chat"
    with httpx.stream("POST", url, json=body, timeout=TIMEOUT) as response:
        lines = (line for line in response.iter_lines() if line.startswith("data: "))
        first = json.loads(next(lines)[len("data: ") :])
    # the connection is closed now, after the first chunk of a long answer
    deadline = time.monotonic() + 60
    while not (rows := stored_messages(stack, "left-early"))[0]["response"] and time.monotonic() < deadline:
        time.sleep(0.2)
    [stored] = rows
    assert stored["id"] == first["message_id"]
    assert stored["response"].startswith(first["answer"]) and stored["response"].strip()
    assert stored["meta"]["sources"], "the sources are kept with a cut-short answer too"


def test_unknown_kb_model_and_embedder_are_clear_errors(stack: RunningStack) -> None:
    response = api(stack, "/chat/knowledge_base_chat", json={"query": "hi", "knowledge_base_name": "nope"})
    assert response.status_code == 404 and "nope" in response.json()["msg"]
    response = api(
        stack,
        "/knowledge_base/search_docs",
        json={"knowledge_base_name": "samples", "query": "x", "embed_model": "all-minilm-l6-v2"},
    )
    assert response.status_code == 400 and "usem3-multilingual" in response.json()["msg"]
    response = api(stack, "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": "samples"})
    assert response.status_code == 409
    response = api(
        stack,
        "/knowledge_base/create_knowledge_base",
        json={"knowledge_base_name": "x", "embed_model": "gpt-embed"},
    )
    assert response.status_code == 400 and "gpt-embed" in response.json()["msg"]


@pytest.mark.parametrize(
    "bad_name", ["../evil.txt", "/etc/passwd", "..\\evil.txt", "sub/../../evil.txt", "evil\x00.txt"]
)
def test_traversal_in_upload_names_is_refused_and_nothing_written(stack: RunningStack, bad_name: str) -> None:
    kb = f"guard-{uuid.uuid4().hex[:12]}"
    create(stack, kb)
    before = sorted(p for p in stack.data_dir.rglob("*") if "evil" in p.name)
    response = api(
        stack,
        "/knowledge_base/upload_docs",
        data={"knowledge_base_name": kb},
        files=[("files", ("ok.txt", b"fine")), ("files", (bad_name, b"evil"))],
    )
    assert 400 <= response.status_code < 500, response.text
    assert sorted(p for p in stack.data_dir.rglob("*") if "evil" in p.name) == before
    assert not (stack.data_dir / "knowledge_base" / kb / "content" / "ok.txt").exists()


@pytest.mark.parametrize("kb_name", ["../samples", "..", "a/b", "/tmp", "x\\y"])
def test_traversal_in_kb_names_is_refused(stack: RunningStack, kb_name: str) -> None:
    for path, body in (
        ("/knowledge_base/create_knowledge_base", {"knowledge_base_name": kb_name}),
        ("/knowledge_base/delete_knowledge_base", kb_name),
        ("/knowledge_base/search_docs", {"knowledge_base_name": kb_name, "query": "x"}),
    ):
        response = api(stack, path, json=body)
        assert response.status_code == 400, (path, response.text)
    response = api(stack, "/knowledge_base/list_files", params={"knowledge_base_name": kb_name})
    assert response.status_code == 400
    assert "samples" in api(stack, "/knowledge_base/list_knowledge_bases").json()["data"]


def test_downloads_and_deletes_stay_inside_the_kb(stack: RunningStack, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    content = stack.data_dir / "knowledge_base" / "samples" / "content"
    (content / "link.txt").symlink_to(secret)
    try:
        for name in ("../../info.db", "/etc/passwd", "..\\info.db", "link.txt", "x\x00.txt"):
            response = api(
                stack,
                "/knowledge_base/download_doc",
                params={"knowledge_base_name": "samples", "file_name": name},
            )
            assert 400 <= response.status_code < 500 and b"secret" not in response.content, name
            response = api(
                stack,
                "/knowledge_base/delete_docs",
                json={"knowledge_base_name": "samples", "file_names": [name], "delete_content": True},
            )
            assert 400 <= response.status_code < 500, name
        assert secret.read_text() == "top secret"
    finally:
        (content / "link.txt").unlink()


def test_delete_knowledge_base_accepts_a_bare_string(stack: RunningStack) -> None:
    create(stack, "short-lived")
    response = api(
        stack,
        "/knowledge_base/delete_knowledge_base",
        content=json.dumps("short-lived"),
        headers={"content-type": "application/json"},
    )
    assert response.json()["code"] == 200
    create(stack, "short-lived2")
    assert (
        api(
            stack, "/knowledge_base/delete_knowledge_base", json={"knowledge_base_name": "short-lived2"}
        ).json()["code"]
        == 200
    )
    names = api(stack, "/knowledge_base/list_knowledge_bases").json()["data"]
    assert "short-lived" not in names and "short-lived2" not in names
    assert not (stack.data_dir / "knowledge_base" / "short-lived").exists()
