"""Every chat mode's stream events end up in one reply: text, cited sources, agent steps."""

from __future__ import annotations

from typing import Any

from webui.answer import absorb


def fold(events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    reply: dict[str, Any] = {"role": "assistant", "content": "", "docs": [], "tools": []}
    shown = [absorb(reply, event) for event in events]
    return reply, [chunk for chunk in shown if chunk]


def test_llm_chat_text_events_and_the_message_id() -> None:
    reply, shown = fold([{"text": "Par", "message_id": "m1"}, {"text": "is.", "message_id": "m1"}])
    assert shown == ["Par", "is."]
    assert (reply["content"], reply["message_id"]) == ("Paris.", "m1")


def test_knowledge_base_answer_then_structured_sources_win_over_markdown_docs() -> None:
    source = {
        "index": 1,
        "file_name": "a.md",
        "url": "http://x/download_doc?f=a.md",
        "text": "chunk",
        "score": 0.2,
    }
    reply, shown = fold(
        [{"answer": "It is "}, {"answer": "blue."}, {"docs": ["出处 [1] [a.md](u)"], "sources": [source]}]
    )
    assert shown == ["It is ", "blue."]
    assert reply["docs"] == [source]


def test_markdown_docs_are_kept_when_no_structured_sources_come() -> None:
    reply, _ = fold([{"answer": "x"}, {"docs": ["出处 [1] [a.md](u)\n\nchunk"]}])
    assert reply["docs"] == ["出处 [1] [a.md](u)\n\nchunk"]


def test_agent_steps_become_one_entry_each_and_the_final_answer_is_kept_aside() -> None:
    step = ["工具名称: calculate", "工具状态: 调用成功", "工具输入: 2+2", "工具输出: 4"]
    reply, shown = fold([{"tools": step}, {"answer": "4"}, {"final_answer": "4"}])
    assert reply["tools"] == ["  \n".join(step)]
    assert shown == ["4"] and reply["content"] == "4" and reply["final"] == "4"


def test_tool_protocol_markup_is_never_shown() -> None:
    from webui.answer import scrub

    echoed = 'Sunny.<tool_response>\n{"temp": 21}\n</tool_response> It is 21 °C.'
    assert scrub(echoed) == "Sunny. It is 21 °C."
    assert scrub('<tool_call>{"name": "weather"}') == ""  # an unclosed block runs to the end
    assert scrub("Done.</tool_response>") == "Done."
    assert scrub("a < b and <b>bold</b>") == "a < b and <b>bold</b>"  # other markup stays


def test_agent_step_labels_follow_the_ui_language() -> None:
    from webui.answer import step_entry, step_lines, translate_step

    entry = step_entry(step_lines({"tool": "calculator", "ok": True, "input": "1+1", "output": "2"}))
    assert translate_step(entry).split("  \n") == [
        "Tool: calculator",
        "Status: succeeded",
        "Input: 1+1",
        "Output: 2",
    ]
