"""A user's conversations: kept, continued with their history, rated, renamed, exported, deleted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from server.launcher.harness import RunningStack, running_stack
from tests.e2e.conftest import received_prompt, sse_events

pytestmark = pytest.mark.slow


def api(stack: RunningStack, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{stack.urls.api}{path}", timeout=60, **kwargs)


def ask(stack: RunningStack, query: str, **body) -> list[dict]:
    response = api(
        stack,
        "POST",
        "/chat/chat",
        json={"query": query, "stream": True, "temperature": 0, "max_tokens": 24, **body},
    )
    assert response.status_code == 200, response.text
    return sse_events(response.text.splitlines())


def test_a_conversation_is_stored_continued_with_history_and_exported(stack: RunningStack) -> None:
    created = api(stack, "POST", "/conversations", json={"name": "Names"}).json()["data"]
    cid = created["id"]
    first = ask(stack, "My name is Zorblax.", conversation_id=cid, history_len=3)
    second = ask(stack, "What is my name?", conversation_id=cid, history_len=3)

    messages = api(stack, "GET", f"/conversations/{cid}/messages").json()["data"]
    assert [m["query"] for m in messages] == ["My name is Zorblax.", "What is my name?"]
    assert messages[0]["id"] == first[0]["message_id"] and messages[1]["id"] == second[0]["message_id"]
    assert messages[0]["response"] == "".join(e["text"] for e in first)
    assert messages[1]["model_name"] == "smollm2"

    # The second prompt the worker received carried the first turn (question and answer), in order.
    prompt = received_prompt(stack, "What is my name?")
    first_turn = prompt.index("My name is Zorblax.")
    assert first_turn < prompt.index(messages[0]["response"].strip()) < prompt.index("What is my name?")

    listed = api(stack, "GET", "/conversations").json()["data"]
    assert listed[0]["id"] == cid  # most recently active first

    export = api(stack, "GET", f"/conversations/{cid}/export")
    assert export.headers["content-type"].startswith("text/markdown")
    assert "filename*=UTF-8''Names.md" in export.headers["content-disposition"]
    assert export.text.startswith("# Names") and "What is my name?" in export.text
    assert messages[1]["response"] in export.text


def test_history_len_zero_sends_no_history(stack: RunningStack) -> None:
    cid = api(stack, "POST", "/conversations", json={}).json()["data"]["id"]
    ask(stack, "Remember the word pineapple.", conversation_id=cid, history_len=0)
    ask(stack, "Which fruit did I mention?", conversation_id=cid, history_len=0)
    assert "pineapple" in received_prompt(stack, "Remember the word pineapple.")
    assert "pineapple" not in received_prompt(stack, "Which fruit did I mention?")


def test_a_client_made_conversation_id_is_created_on_first_message(stack: RunningStack) -> None:
    ask(stack, "hello", conversation_id="client-made-id-1")
    assert api(stack, "GET", "/conversations/client-made-id-1/messages").json()["data"][0]["query"] == "hello"


def test_feedback_is_stored_and_unknown_ids_are_404(stack: RunningStack) -> None:
    cid = api(stack, "POST", "/conversations", json={"name": "rated"}).json()["data"]["id"]
    message_id = ask(stack, "Say something nice.", conversation_id=cid)[0]["message_id"]
    ok = api(
        stack, "POST", "/chat/feedback", json={"message_id": message_id, "score": 90, "reason": "lovely"}
    )
    assert ok.status_code == 200 and ok.json()["code"] == 200
    stored = api(stack, "GET", f"/conversations/{cid}/messages").json()["data"][0]
    assert (stored["feedback_score"], stored["feedback_reason"]) == (90, "lovely")

    bad = api(stack, "POST", "/chat/feedback", json={"message_id": message_id, "score": 101})
    assert bad.status_code == 422 and "score" in bad.json()["msg"]
    missing = api(stack, "POST", "/chat/feedback", json={"message_id": "f" * 32, "score": 10})
    assert missing.status_code == 404 and "does not exist" in missing.json()["msg"]
    unchanged = api(stack, "GET", f"/conversations/{cid}/messages").json()["data"][0]
    assert unchanged["feedback_score"] == 90


def test_rename_delete_and_unknown_conversations(stack: RunningStack) -> None:
    cid = api(stack, "POST", "/conversations", json={"name": "old"}).json()["data"]["id"]
    ask(stack, "to be deleted", conversation_id=cid)
    assert api(stack, "PATCH", f"/conversations/{cid}", json={"name": "new"}).json()["data"]["name"] == "new"
    assert api(stack, "PATCH", f"/conversations/{cid}", json={"name": "  "}).status_code == 422
    assert api(stack, "DELETE", f"/conversations/{cid}").status_code == 200
    for method, path in [
        ("GET", f"/conversations/{cid}/messages"),
        ("DELETE", f"/conversations/{cid}"),
        ("GET", f"/conversations/{cid}/export"),
    ]:
        response = api(stack, method, path)
        assert response.status_code == 404 and cid in response.json()["msg"]
    assert api(stack, "GET", "/conversations/..%2F..%2Fetc/messages").status_code in (404, 422)
    assert api(stack, "POST", "/conversations", json={"chat_type": "telepathy"}).status_code == 422


def test_one_request_id_follows_a_chat_through_every_process(stack: RunningStack) -> None:
    response = api(
        stack,
        "POST",
        "/chat/chat",
        json={"query": "trace me", "max_tokens": 4},
        headers={"X-Request-ID": "trace-4242"},
    )
    assert response.headers["x-request-id"] == "trace-4242"
    for service in ("api", "openai_api", "model_worker-smollm2"):
        log = (stack.log_dir / f"{service}.log").read_text()
        assert "[trace-4242]" in log, f"{service}.log lacks the request id"


def test_conversations_survive_a_restart_of_the_stack(tmp_path: Path) -> None:
    with running_stack(tmp_path, ("--all-api",)) as stack:
        cid = api(stack, "POST", "/conversations", json={"name": "kept"}).json()["data"]["id"]
        answer = "".join(e["text"] for e in ask(stack, "Remember me.", conversation_id=cid))
    with running_stack(tmp_path, ("--all-api",)) as stack:
        conversations = api(stack, "GET", "/conversations").json()["data"]
        messages = api(stack, "GET", f"/conversations/{cid}/messages").json()["data"]
    assert [c["name"] for c in conversations] == ["kept"]
    assert [(m["query"], m["response"]) for m in messages] == [("Remember me.", answer)]
