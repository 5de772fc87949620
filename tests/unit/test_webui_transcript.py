"""A stored conversation comes back on screen as it was shown live: answers, sources, agent steps."""

from __future__ import annotations

from typing import Any

from server.agent.loop import ToolStep
from server.api.routes.agent_chat import _tools_event
from webui.answer import absorb, step_entry, step_lines
from webui.transcript import from_stored

SOURCE = {
    "index": 1,
    "file_name": "operations.md",
    "url": "http://x/download_doc?f=operations.md",
    "text": "Backups are kept for ninety days.",
    "score": 0.3,
    "id": "7",
    "start": 0,
    "end": 33,
}
STEP = {"index": 1, "tool": "calculator", "input": "17 * 23", "output": "391", "ok": True}


def row(**fields: Any) -> dict[str, Any]:
    return {"id": "m1", "query": "q", "response": "a", "meta": {}, "feedback_score": None, **fields}


def live(events: list[dict[str, Any]]) -> dict[str, Any]:
    reply: dict[str, Any] = {"role": "assistant", "content": "", "docs": [], "tools": []}
    for event in events:
        absorb(reply, event)
    return reply


def test_a_knowledge_base_answer_comes_back_with_its_structured_sources() -> None:
    docs = ["出处 [1] [operations.md](http://x) \n\nBackups are kept for ninety days.\n\n"]
    user, answer = from_stored(
        [
            row(
                query="How long?",
                response="Ninety days.",
                feedback_score=100,
                meta={"docs": docs, "sources": [SOURCE]},
            )
        ]
    )
    assert user == {"role": "user", "content": "How long?"}
    shown_live = live([{"answer": "Ninety days.", "message_id": "m1"}, {"docs": docs, "sources": [SOURCE]}])
    assert answer["docs"] == shown_live["docs"] == [SOURCE]
    assert (answer["content"], answer["message_id"], answer["feedback"]) == ("Ninety days.", "m1", 100)


def test_search_sources_are_the_docs_strings_and_nothing_found_is_kept_as_the_notice() -> None:
    docs = ["出处 [1] [Tidal power](https://example.org/tidal)\n\nSnippet"]
    [_, answer] = from_stored([row(meta={"docs": docs})])
    assert answer["docs"] == docs
    notice = ["<span style='color:red'>未找到相关文档,该回答为大模型自身能力解答！</span>"]
    [_, answer] = from_stored([row(meta={"docs": notice, "sources": []})])
    assert answer["docs"] == notice


def test_agent_steps_come_back_formatted_as_the_live_view_showed_them() -> None:
    failed = {"index": 2, "tool": None, "input": "", "output": "Invalid format: no action.", "ok": False}
    [_, answer] = from_stored([row(response="391", meta={"tools": [STEP, failed], "final_answer": "391"})])
    wire = [
        _tools_event(ToolStep(s["index"], s["tool"], s["input"], s["output"], s["ok"]))
        for s in (STEP, failed)
    ]
    events = [{"tools": w.tools, "step": w.step.model_dump()} for w in wire]
    shown_live = live([*events, {"final_answer": "391"}])
    assert answer["tools"] == shown_live["tools"]
    assert answer["tools"][1] == step_entry(
        [
            "工具名称: (invalid call)",
            "工具状态: 调用失败",
            "工具输入: ",
            "工具输出: Invalid format: no action.",
        ]
    )
    assert answer["content"] == "391"


def test_the_webui_writes_a_step_exactly_as_the_backend_does() -> None:
    for ok in (True, False):
        step = {**STEP, "ok": ok}
        event = _tools_event(ToolStep(step["index"], step["tool"], step["input"], step["output"], ok))
        assert step_lines(step) == event.tools


def test_an_error_is_shown_again_and_odd_meta_is_tolerated() -> None:
    [_, failed] = from_stored([row(response="", meta={"error": "model 'x' is not running"})])
    assert failed["error"] == "model 'x' is not running"
    [_, plain] = from_stored([row(meta='{"docs": ["d"]}')])
    assert plain["docs"] == ["d"] and plain["tools"] == [] and "error" not in plain
    [_, broken] = from_stored([row(meta="not json")])
    assert broken["docs"] == [] and broken["tools"] == []
