"""A fixed table of hostile inputs against the real backend: each gets its 4xx and changes nothing stored.

The backend runs in-process (TestClient) on a real SQLite database, real files and the bundled
embedder; no model server runs, so chat endpoints are only reached as far as their input checks.
Every hostile file is built here, small: a zip bomb is 20 MB of one letter, deflated.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfWriter

from configs import Settings
from server.api.app import create_app
from server.launcher.harness import free_port

KB = "hostile"
GOOD = "notes.txt"
GOOD_TEXT = "The quarterly report is due on Friday. 季度报告周五截止。\n" * 5
LONG_CJK = "报" * 84 + ".txt"  # 256 bytes in UTF-8, 88 characters: a 500 before names were measured in bytes
NAME_255 = "报" * 83 + "ab.txt"  # exactly 255 bytes


def multipart(files: list[tuple[str, bytes]], fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart body written by hand, so a file name reaches the server exactly as a client sent it."""
    boundary = "hostileboundary7x"
    out = io.BytesIO()
    for key, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for name, data in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def zip_bomb_docx() -> bytes:
    """A .docx whose document.xml inflates 20 MB from a few KB (the measured one reached 200 MB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:t>" + "a" * 20_000_000 + "</w:t>")
    return out.getvalue()


def blank_pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("hostile")
    settings = Settings(
        openai_api={"port": free_port()},
        data_dir=root / "data",
        log_dir=root / "logs",
        kb={"samples_kb": None},
        auth={"enabled": False},  # single-user mode: these tests are not about access
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as test_client:
        assert test_client.post(
            "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": KB}
        ).is_success
        answer = upload(test_client, [(GOOD, GOOD_TEXT.encode())])
        assert answer.status_code == 200 and answer.json()["data"]["failed_files"] == {}
        yield test_client


def upload(client: TestClient, files: list[tuple[str, bytes]], path: str = "upload_docs") -> Any:
    fields = {"knowledge_base_name": KB} if path == "upload_docs" else {}
    body, content_type = multipart(files, fields)
    return client.post(f"/knowledge_base/{path}", content=body, headers={"content-type": content_type})


def stored(client: TestClient) -> dict[str, Any]:
    """Everything a user could see of the knowledge base: its files, their rows, its chunks, its folder."""
    app = client.app
    root = app.state.kb_service.paths.kb_dir(KB)  # type: ignore[attr-defined]
    files = client.get("/knowledge_base/list_files", params={"knowledge_base_name": KB, "details": True})
    chunks = client.post("/knowledge_base/search_docs", json={"knowledge_base_name": KB, "query": ""})
    return {
        "rows": sorted((f["file_name"], f["docs_count"], f["file_version"]) for f in files.json()["data"]),
        "chunks": sorted(c["id"] for c in chunks.json()),
        "content": sorted(p.name for p in (root / "content").iterdir()),
        "staging": sorted(p.name for p in (root / ".staging").glob("*/*")),
        "kbs": client.get("/knowledge_base/list_knowledge_bases").json()["data"],
    }


def json_post(path: str, raw: str | bytes) -> dict[str, Any]:
    return {"method": "POST", "url": path, "content": raw, "headers": {"content-type": "application/json"}}


SEARCH = "/knowledge_base/search_docs"
NESTED = '{"knowledge_base_name": "hostile", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"

# (id, request, status, words the message must contain)
REQUESTS: list[tuple[str, dict[str, Any], int, list[str]]] = [
    (
        "surrogate-query",
        json_post(SEARCH, '{"knowledge_base_name": "hostile", "query": "a\\ud800b"}'),
        422,
        ["query", "surrogate"],
    ),
    (
        "surrogate-texts",
        json_post("/other/embed_texts", '{"texts": ["fine", "\\udfff"]}'),
        422,
        ["texts.1", "surrogate"],
    ),
    (
        "surrogate-kb-info",
        json_post(
            "/knowledge_base/create_knowledge_base", '{"knowledge_base_name": "kb2", "kb_info": "\\ud83d"}'
        ),
        422,
        ["kb_info", "surrogate"],
    ),
    (
        "surrogate-key",
        json_post(SEARCH, '{"knowledge_base_name": "hostile", "metadata": {"\\ud800": 1}}'),
        422,
        ["metadata", "surrogate"],
    ),
    ("surrogate-chat", json_post("/chat/chat", '{"query": "\\ud800", "stream": false}'), 422, ["query"]),
    (
        "megabyte-query",
        json_post(SEARCH, json.dumps({"knowledge_base_name": KB, "query": "x" * 1_000_000})),
        422,
        ["query", "16000", "limits.max_query_chars"],
    ),
    (
        "megabyte-chat-query",
        json_post("/chat/chat", json.dumps({"query": "字" * 1_000_000})),
        422,
        ["query", "max_query_chars"],
    ),
    ("deep-json", json_post(SEARCH, NESTED), 422, ["nested"]),
    (
        "fairly-deep-json",
        json_post(SEARCH, '{"metadata": ' + "[" * 40 + "]" * 40 + "}"),
        422,
        ["max_json_depth"],
    ),
    (
        "huge-float",
        json_post(SEARCH, '{"knowledge_base_name": "hostile", "query": "q", "top_k": 1e400}'),
        422,
        ["number"],
    ),
    (
        "huge-int",
        json_post(SEARCH, '{"knowledge_base_name": "hostile", "top_k": ' + "9" * 5000 + "}"),
        422,
        ["number"],
    ),
    (
        "int64-overflow",
        json_post("/chat/chat", '{"query": "hi", "max_tokens": ' + "9" * 30 + "}"),
        422,
        ["out of range"],
    ),
    ("nan", json_post(SEARCH, '{"knowledge_base_name": "hostile", "score_threshold": NaN}'), 422, ["NaN"]),
    ("not-utf8-body", json_post(SEARCH, b'{"query": "\xff\xfe"}'), 422, ["UTF-8"]),
    (
        "long-name-download",
        {
            "method": "GET",
            "url": "/knowledge_base/download_doc",
            "params": {"knowledge_base_name": KB, "file_name": LONG_CJK},
        },
        400,
        ["bytes"],
    ),
    (
        "long-name-delete",
        {
            "method": "POST",
            "url": "/knowledge_base/delete_docs",
            "json": {"knowledge_base_name": KB, "file_names": [LONG_CJK], "delete_content": True},
        },
        400,
        ["bytes"],
    ),
    (
        "long-name-update",
        {
            "method": "POST",
            "url": "/knowledge_base/update_docs",
            "json": {"knowledge_base_name": KB, "file_names": [LONG_CJK]},
        },
        400,
        ["bytes"],
    ),
    (
        "drive-delete",
        {
            "method": "POST",
            "url": "/knowledge_base/delete_docs",
            "json": {"knowledge_base_name": KB, "file_names": ["C:\\notes.txt"], "delete_content": True},
        },
        400,
        ["drive letter"],
    ),
]


@pytest.mark.parametrize(("case", "request_", "status", "words"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_a_hostile_request_is_refused_and_changes_nothing(
    client: TestClient, case: str, request_: dict[str, Any], status: int, words: list[str]
) -> None:
    before = stored(client)
    response = client.request(**request_)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    for word in words:
        assert word in body["msg"], (word, body["msg"])
    assert stored(client) == before


# (id, files, status, words); every one goes to upload_docs and to upload_temp_docs
UPLOADS: list[tuple[str, list[tuple[str, bytes]], int, list[str]]] = [
    ("long-cjk-name", [(LONG_CJK, b"text")], 400, ["256 bytes", "255"]),
    ("drive-prefix", [("C:\\Users\\me\\evil.txt", b"text")], 400, ["drive letter"]),
    ("unc-path", [("\\\\server\\share\\evil.txt", b"text")], 400, ["path"]),
    ("traversal", [("../evil.txt", b"text")], 400, ["path"]),
    ("device-name", [("CON.txt", b"text")], 400, ["reserved"]),
    ("trailing-dot", [("evil.txt.", b"text")], 400, ["'.'"]),
    ("zip-bomb-docx", [("bomb.docx", zip_bomb_docx())], 413, ["bomb.docx", "kb.limits.max_zip_ratio"]),
    ("blank-pdf", [("blank.pdf", blank_pdf(60))], 413, ["blank.pdf", "60 pages", "kb.limits.max_ocr_pages"]),
    ("invalid-utf8", [("bytes.txt", b"\xff\xfe\xfa\x80 not text \xff")], 422, ["bytes.txt", "UTF-8"]),
    ("deep-json-file", [("deep.json", b"[" * 200_000 + b"]" * 200_000)], 422, ["deep.json", "nested"]),
    ("broken-docx", [("broken.docx", b"PK\x03\x04 not a zip")], 422, ["broken.docx", "zip"]),
]


@pytest.mark.parametrize("path", ["upload_docs", "upload_temp_docs"])
@pytest.mark.parametrize(("case", "files", "status", "words"), UPLOADS, ids=[u[0] for u in UPLOADS])
def test_a_hostile_upload_is_refused_and_leaves_no_file(
    client: TestClient, path: str, case: str, files: list[tuple[str, bytes]], status: int, words: list[str]
) -> None:
    temp_root = client.app.state.kb_service.paths.temp_root  # type: ignore[attr-defined]
    temp_before = sorted(p.relative_to(temp_root) for p in temp_root.rglob("*")) if temp_root.exists() else []
    before = stored(client)
    response = upload(client, files, path)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    for word in words:
        assert word in body["msg"], (word, body["msg"])
    if status != 400:  # refused after reading: the reason is listed per file
        assert set(body["data"]["failed_files"]) == {name for name, _ in files}
    assert stored(client) == before
    if path == "upload_temp_docs":  # a file that could not be read is not kept in the temporary folder
        kept = {p.name for p in temp_root.rglob("*") if p.is_file()} if temp_root.exists() else set()
        assert not kept & {name for name, _ in files}, sorted(set(temp_root.rglob("*")) - set(temp_before))


def test_a_bad_file_in_a_batch_is_listed_and_the_good_one_stored(client: TestClient) -> None:
    response = upload(client, [("also.txt", b"Another plain note."), ("bomb.docx", zip_bomb_docx())])
    assert response.status_code == 200
    failed = response.json()["data"]["failed_files"]
    assert list(failed) == ["bomb.docx"] and "kb.limits.max_zip_ratio" in failed["bomb.docx"]
    content = stored(client)["content"]
    assert "also.txt" in content and "bomb.docx" not in content


def test_a_name_of_exactly_255_bytes_is_stored_and_served(client: TestClient) -> None:
    assert len(NAME_255.encode()) == 255
    response = upload(client, [(NAME_255, b"A note with a long Chinese name.")])
    assert response.status_code == 200 and response.json()["data"]["failed_files"] == {}
    download = client.get(
        "/knowledge_base/download_doc", params={"knowledge_base_name": KB, "file_name": NAME_255}
    )
    assert download.status_code == 200 and download.content == b"A note with a long Chinese name."


def test_the_query_limit_is_a_setting(tmp_path: Path) -> None:
    settings = Settings(
        openai_api={"port": free_port()},
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        kb={"samples_kb": None},
        limits={"max_query_chars": 10},
        auth={"enabled": False},
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as test_client:
        response = test_client.post("/chat/chat", json={"query": "eleven chars"})
    assert response.status_code == 422 and "at most 10" in response.json()["msg"]
