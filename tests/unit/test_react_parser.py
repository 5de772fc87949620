"""The ReAct reader against what models really write, well-formed and not."""

from __future__ import annotations

import pytest

from server.agent.react import FinalAnswer, Malformed, ToolCall, clean_input, parse, strip_observation

WELL_FORMED = [
    (
        "Thought: I need to multiply.\nAction: calculator\nAction Input: 17 * 23",
        ToolCall("calculator", "17 * 23"),
    ),
    ("Thought: I know it.\nFinal Answer: Paris is the capital.", FinalAnswer("Paris is the capital.")),
    (
        "Action: unit_conversion\nAction Input: 10 km to miles\n",
        ToolCall("unit_conversion", "10 km to miles"),
    ),
    ("Final Answer: line one\nline two", FinalAnswer("line one\nline two")),
    ("Action: current_datetime\nAction Input: ", ToolCall("current_datetime", "")),
]

MALFORMED_BUT_READABLE = [
    # Markdown bold labels and a numbered action.
    ("**Thought:** multiply\n**Action:** calculator\n**Action Input:** 2+2", ToolCall("calculator", "2+2")),
    (
        "Thought 1: go\nAction 1: web_search\nAction Input 1: weather in Paris",
        ToolCall("web_search", "weather in Paris"),
    ),
    # Lower case, full-width colon, extra spaces.
    ("action：  calculator  \naction input：  3*3", ToolCall("calculator", "3*3")),
    # Input in JSON, in quotes, in a code fence.
    ('Action: calculator\nAction Input: {"expression": "6*7"}', ToolCall("calculator", "6*7")),
    ('Action: web_search\nAction Input: "tallest building"', ToolCall("web_search", "tallest building")),
    ("Action: calculator\nAction Input: ```\n1 + 1\n```", ToolCall("calculator", "1 + 1")),
    ('Action: calculator\nAction Input: {"a": "5-1"}', ToolCall("calculator", "5-1")),
    # The tool name in backticks or brackets; the input inline, with no Action Input line.
    ("Action: `calculator`\nAction Input: 9/3", ToolCall("calculator", "9/3")),
    ("Action: [web_search]\nAction Input: news", ToolCall("web_search", "news")),
    ("Action: calculator(12 * 12)", ToolCall("calculator", "12 * 12")),
    ("Action: calculator[12 * 12]", ToolCall("calculator", "12 * 12")),
    # A made-up observation and everything after it is ignored.
    (
        "Action: calculator\nAction Input: 2*3\nObservation: 6\nThought: done\nFinal Answer: 6",
        ToolCall("calculator", "2*3"),
    ),
    # The input stops at the next label.
    ("Action: calculator\nAction Input: 1+1\nThought: wait for it", ToolCall("calculator", "1+1")),
    # Both an action and a final answer: whichever comes first wins.
    ("Final Answer: 4\nAction: calculator\nAction Input: 2+2", FinalAnswer("4")),
    # 'Action: None' followed by an answer.
    ("Thought: no tool needed\nAction: None\nFinal Answer: Hello!", FinalAnswer("Hello!")),
    # The final answer stops before an invented next question.
    ("Final Answer: 42\nQuestion: what next?", FinalAnswer("42")),
    ("final_answer: yes", FinalAnswer("yes")),
    # No protocol at all: the model simply answered.
    ("The capital of France is Paris.", FinalAnswer("The capital of France is Paris.")),
    # An unknown tool is still a call: the loop tells the model which tools exist.
    ("Action: weather\nAction Input: Paris", ToolCall("weather", "Paris")),
    ("Action: I will now answer the question", ToolCall("I will now answer the question", "")),
]

UNREADABLE = [
    ("", "the reply is empty"),
    ("   \n ", "the reply is empty"),
    ("Thought: I should think about this.", "neither an 'Action:' nor a 'Final Answer:'"),
    ("Action Input: 2+2", "neither an 'Action:' nor a 'Final Answer:'"),
    ("Action:\nAction Input: 2+2", "'Action:' names no tool"),
    ("Action: ``\nAction Input: x", "'Action:' names no tool"),
    ("Final Answer:   ", "'Final Answer:' is empty"),
    ("Action: None\nAction Input: x", "'Action: None' is not a tool"),
    ("Observation: 5", "the reply is empty"),
]


@pytest.mark.parametrize("text, expected", WELL_FORMED + MALFORMED_BUT_READABLE)
def test_replies_are_read_as_a_tool_call_or_a_final_answer(text: str, expected) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text, reason", UNREADABLE)
def test_unreadable_replies_say_what_is_wrong(text: str, reason: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, Malformed)
    assert reason in parsed.reason


def test_an_invented_observation_is_cut_from_what_the_model_said() -> None:
    assert (
        strip_observation("Action: calculator\nAction Input: 1+1\nObservation: 2\nFinal Answer: 2")
        == "Action: calculator\nAction Input: 1+1"
    )


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('{"query": "x"}', "x"),
        ('{"q": 5}', "5"),
        ("'single'", "single"),
        ("{not json", "{not json"),
        ('["a", "b"]', '["a", "b"]'),
    ],
)
def test_tool_inputs_are_unwrapped(raw: str, expected: str) -> None:
    assert clean_input(raw) == expected
