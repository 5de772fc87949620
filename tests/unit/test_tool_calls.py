"""The Hermes tool-call format: messages rendered for a template, replies read back into calls."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from server.llm.tool_calls import (
    ToolCallReader,
    ToolRequest,
    forced_call_schema,
    parse_call,
    render_messages,
)

CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate arithmetic.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "current_datetime", "description": "Now."}}


def request(**kwargs: object) -> ToolRequest:
    return ToolRequest.model_validate({"tools": [CALCULATOR, CLOCK], **kwargs})


def read(chunks: list[str], forced: bool = False) -> tuple[str, list[dict]]:
    reader = ToolCallReader(forced=forced)
    shown = "".join(reader.feed(c) for c in chunks)
    rest, calls = reader.finish()
    return shown + rest, [
        {"name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in calls
    ]


def test_tools_join_the_system_message_and_results_become_tool_responses() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "17 * 23?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "17 * 23"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "current_datetime", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "391"},
        {"role": "tool", "tool_call_id": "call_2", "content": "Tuesday"},
    ]
    rendered = render_messages(messages, request())
    assert [m["role"] for m in rendered] == ["system", "user", "assistant", "user"]
    assert rendered[0]["content"].startswith("Be brief.\n\n# Tools\n")
    assert json.dumps(CALCULATOR) in rendered[0]["content"]
    assert rendered[2]["content"] == (
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "17 * 23"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "current_datetime", "arguments": {}}\n</tool_call>'
    )
    assert (
        rendered[3]["content"]
        == "<tool_response>\n391\n</tool_response>\n<tool_response>\nTuesday\n</tool_response>"
    )


def test_without_a_system_message_one_is_added_and_tool_choice_none_adds_no_tools() -> None:
    rendered = render_messages([{"role": "user", "content": "hi"}], request())
    assert rendered[0]["role"] == "system" and "<tools>" in rendered[0]["content"]
    plain = render_messages([{"role": "user", "content": "hi"}], request(tool_choice="none"))
    assert plain == [{"role": "user", "content": "hi"}]


def test_a_named_tool_choice_is_stated_and_must_exist() -> None:
    forced = request(tool_choice={"type": "function", "function": {"name": "calculator"}})
    forced.check()
    assert render_messages([{"role": "user", "content": "x"}], forced)[0]["content"].endswith(
        "Call the function calculator now."
    )
    with pytest.raises(ValueError, match="'nope', which is not among tools: calculator, current_datetime"):
        request(tool_choice={"type": "function", "function": {"name": "nope"}}).check()


def test_bad_tool_definitions_are_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="must be 1-64 letters"):
        ToolRequest.model_validate({"tools": [{"type": "function", "function": {"name": "rm -rf"}}]})
    with pytest.raises(ValueError, match="distinct name"):
        ToolRequest.model_validate({"tools": [CALCULATOR, CALCULATOR]}).check()
    with pytest.raises(ValueError, match="unknown role 'robot'"):
        render_messages([{"role": "robot", "content": "x"}], request())


def test_forced_schema_only_when_a_call_is_required() -> None:
    assert forced_call_schema(request()) is None
    assert forced_call_schema(request(tool_choice="auto")) is None
    named = forced_call_schema(request(tool_choice={"type": "function", "function": {"name": "calculator"}}))
    assert named == {
        "type": "object",
        "required": ["name", "arguments"],
        "properties": {"name": {"const": "calculator"}, "arguments": CALCULATOR["function"]["parameters"]},
    }
    required = forced_call_schema(request(tool_choice="required"))
    assert [o["properties"]["name"]["const"] for o in required["oneOf"]] == ["calculator", "current_datetime"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "calculator", "arguments": {"expression": "2+2"}}', ("calculator", {"expression": "2+2"})),
        (
            '{"name": "calculator", "parameters": {"expression": "2+2"}}',
            ("calculator", {"expression": "2+2"}),
        ),
        (
            '{"name": "calculator", "arguments": "{\\"expression\\": \\"1\\"}"}',
            ("calculator", {"expression": "1"}),
        ),
        ('```json\n{"name": "current_datetime"}\n```', ("current_datetime", {})),
        ('{"name": "", "arguments": {}}', None),
        ('{"arguments": {}}', None),
        ('{"name": "calculator", "arguments": [1]}', None),
        ("calculator(2+2)", None),
    ],
)
def test_parse_call_table(text: str, expected: tuple[str, dict] | None) -> None:
    call = parse_call(text)
    if expected is None:
        assert call is None
    else:
        assert call is not None and call.id.startswith("call_")
        assert (call.function.name, json.loads(call.function.arguments)) == expected


def test_plain_text_streams_through_and_no_call_is_found() -> None:
    reader = ToolCallReader()
    assert reader.feed("The answer ") == "The answer "
    assert reader.feed("is 4 <") == "is 4 "  # '<' may open a call: held
    assert reader.feed("3") == "<3"
    assert reader.finish() == ("", [])


def test_a_call_after_some_text_is_cut_from_the_text() -> None:
    shown, calls = read(
        [
            "Let me compute.\n<tool",
            '_call>\n{"name": "calculator", ',
            '"arguments": {"expression": "17*23"}}\n</tool_call>',
        ]
    )
    assert shown == "Let me compute.\n"  # shown while it streamed
    assert calls == [{"name": "calculator", "arguments": {"expression": "17*23"}}]


def test_two_calls_and_an_unclosed_last_one() -> None:
    _, calls = read(
        [
            '<tool_call>{"name": "current_datetime", "arguments": {}}</tool_call>\n<tool_call>',
            '{"name": "calculator", "arguments": {"expression": "1"}}',
        ]
    )
    assert [c["name"] for c in calls] == ["current_datetime", "calculator"]


def test_a_broken_call_is_dropped_not_shown_and_flagged() -> None:
    reader = ToolCallReader()
    shown = reader.feed("Let me see. <tool_call>{not json</tool_call>")
    rest, calls = reader.finish()
    assert calls == [] and shown + rest == "Let me see. " and reader.unreadable


def test_bare_json_calls_and_forced_calls_are_read_whole() -> None:
    assert read(['{"name": "calculator", ', '"parameters": {"expression": "3"}}'])[1] == [
        {"name": "calculator", "arguments": {"expression": "3"}}
    ]
    assert read(['{"name": "calculator", "arguments": {"expression": "3"}}'], forced=True)[0] == ""
    shown, calls = read(['{"a": 1} is JSON'])
    assert calls == [] and shown == '{"a": 1} is JSON'
