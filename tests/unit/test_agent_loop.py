"""The agent loop with a scripted model: both protocols, answers split across chunks, calls that
cannot be read, and the step, time and failure endings. No stack: the model is a script, the
tools are the real built-in ones.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from configs.settings import AgentSettings
from server.agent.loop import Agent, AnswerDelta, Event, Failure, Final, ToolStep
from server.agent.react_strategy import ReactStrategy
from server.agent.tool_calling import ToolCallingStrategy
from server.agent.toolbox import build_toolbox
from server.api.errors import ServiceUnavailable, http_status

Piece = str | list[dict[str, Any]]


@dataclass
class Slow:
    """A piece that arrives only after ``seconds``."""

    seconds: float
    piece: Piece = ""


@dataclass
class ScriptedModel:
    """Replies in order; each is a list of pieces, or an exception raised when the step is opened."""

    replies: list[list[Piece | Slow] | Exception]
    seen: list[list[dict[str, Any]]] = field(default_factory=list)
    choices: list[Any] = field(default_factory=list)
    closed: int = 0

    async def _stream(self, pieces: list[Piece | Slow]) -> AsyncIterator[Piece]:
        try:
            for piece in pieces:
                if isinstance(piece, Slow):
                    await asyncio.sleep(piece.seconds)
                    piece = piece.piece
                yield piece
        finally:
            self.closed += 1

    async def open(self, messages: list[dict[str, Any]], choice: Any = None) -> AsyncIterator[Piece]:
        self.seen.append(copy.deepcopy(messages))
        self.choices.append(choice)
        if not self.replies:
            raise AssertionError("the agent asked for more steps than were scripted")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return self._stream(reply)


def call(name: str, arguments: Any, call_id: str = "c1") -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def react_agent(model: ScriptedModel, first_tool: str | None = None, **limits: Any) -> Agent:
    toolbox = build_toolbox(AgentSettings(), None, None)

    async def open_text(messages: list[dict[str, Any]]) -> AsyncIterator[Any]:
        return await model.open(messages)

    async def open_forced(
        messages: list[dict[str, Any]], functions: list[Any], choice: Any
    ) -> AsyncIterator[Any]:
        assert [f["function"]["name"] for f in functions] == [choice["function"]["name"]]
        return await model.open(messages, choice)

    strategy = ReactStrategy(toolbox, open_text, open_forced)
    return Agent(toolbox, AgentSettings(**limits), strategy, first_tool)


def native_agent(model: ScriptedModel, first_tool: str | None = None, **limits: Any) -> Agent:
    toolbox = build_toolbox(AgentSettings(), None, None)
    return Agent(toolbox, AgentSettings(**limits), ToolCallingStrategy(model.open), first_tool)


def run(agent: Agent, question: str = "What is 17 * 23?") -> list[Event]:
    async def go() -> list[Event]:
        events = await agent.start([{"role": "user", "content": question}])
        return [event async for event in events]

    return asyncio.run(go())


def answer_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, AnswerDelta))


def steps_of(events: list[Event]) -> list[ToolStep]:
    return [e for e in events if isinstance(e, ToolStep)]


# ---- ReAct ---------------------------------------------------------------------------------------


def test_react_streams_a_final_answer_split_across_chunks() -> None:
    model = ScriptedModel([["Thought: I know.\nFin", "al Ans", "wer:  Paris is", " the capital", "."]])
    events = run(react_agent(model))
    deltas = [e.text for e in events if isinstance(e, AnswerDelta)]
    assert len(deltas) >= 2  # it went out as it was written, not at the end
    assert answer_of(events) == "Paris is the capital."
    assert events[-1] == Final("Paris is the capital.", "answer")


def test_react_runs_a_tool_and_shows_the_model_the_observation() -> None:
    model = ScriptedModel(
        [
            ["Thought: multiply.\nAction: calcu", "lator\nAction Input: 17 * 23"],
            ["Thought: done.\nFinal Answer: 391"],
        ]
    )
    events = run(react_agent(model))
    assert steps_of(events) == [ToolStep(1, "calculator", "17 * 23", "391", True)]
    assert events[-1] == Final("391", "answer")
    second = model.seen[1]
    assert second[-2] == {
        "role": "assistant",
        "content": "Thought: multiply.\nAction: calculator\nAction Input: 17 * 23",
    }
    assert second[-1] == {"role": "user", "content": "Observation: 391"}


def test_react_malformed_replies_and_unknown_tools_become_observations_the_model_can_fix() -> None:
    model = ScriptedModel(
        [
            ["Thought: I should think more."],
            ["Action: teleport\nAction Input: Mars"],
            ["Action: calculator\nAction Input: 2 +"],
            ["Final Answer: I could not compute it."],
        ]
    )
    events = run(react_agent(model))
    invalid, unknown, refused = steps_of(events)
    assert invalid.tool is None and not invalid.ok
    assert invalid.output.startswith(
        "Invalid format: there is neither an 'Action:' nor a 'Final Answer:' line."
    )
    assert "write 'Action: <tool name>'" in invalid.output
    assert unknown.tool == "teleport" and unknown.output.startswith(
        "Unknown tool 'teleport'. Available tools: "
    )
    assert refused.tool == "calculator" and refused.output.startswith("Error: not an arithmetic expression")
    assert [s.index for s in (invalid, unknown, refused)] == [1, 2, 3]
    assert model.seen[1][-1]["content"] == f"Observation: {invalid.output}"
    assert events[-1] == Final("I could not compute it.", "answer")


def test_react_an_invented_observation_stops_the_reply_and_the_real_tool_answers() -> None:
    model = ScriptedModel(
        [
            ["Action: calculator\nAction Input: 1 + 1\nObserv", "ation: 3\nFinal Answer: 3", " and more"],
            ["Final Answer: 2"],
        ]
    )
    events = run(react_agent(model))
    assert steps_of(events) == [ToolStep(1, "calculator", "1 + 1", "2", True)]
    assert answer_of(events) == "2"  # nothing of the invented answer went out
    assert model.closed == 2  # the first stream was closed early, not left hanging


def test_react_a_forced_first_tool_is_a_real_call_written_into_the_transcript() -> None:
    model = ScriptedModel([[[call("calculator", {"expression": "6 * 7"})]], ["Final Answer: 42"]])
    events = run(react_agent(model, first_tool="calculator"))
    assert model.choices[0] == {"type": "function", "function": {"name": "calculator"}}
    assert model.choices[1] is None  # the next step is plain ReAct text
    assert steps_of(events) == [ToolStep(1, "calculator", "6 * 7", "42", True)]
    assert model.seen[1][-2]["content"].endswith("Action: calculator\nAction Input: 6 * 7")
    assert model.seen[1][-1] == {"role": "user", "content": "Observation: 42"}
    assert events[-1] == Final("42", "answer")


def test_react_answer_text_never_carries_tool_markup() -> None:
    model = ScriptedModel([["Final Answer: 4 <tool_res", 'ponse>{"x": 1}</tool_response> done']])
    events = run(react_agent(model))
    assert answer_of(events) == "4  done"
    assert events[-1] == Final("4  done", "answer")


def test_react_stops_at_the_step_limit_with_the_last_result() -> None:
    model = ScriptedModel([["Action: calculator\nAction Input: 2 * 2"]] * 3)
    events = run(react_agent(model, max_steps=2))
    assert [s.index for s in steps_of(events)] == [1, 2]
    final = events[-1]
    assert isinstance(final, Final) and final.reason == "step_limit"
    assert final.text == "Stopped after 2 steps without a final answer. The last tool result was: 4"
    assert answer_of(events) == final.text
    assert model.replies  # the third reply was never asked for


def test_react_stops_at_the_time_limit_while_the_model_is_writing() -> None:
    model = ScriptedModel([["Thought: slow", Slow(5.0, "er")]])
    events = run(react_agent(model, time_limit=0.3))
    final = events[-1]
    assert isinstance(final, Final) and final.reason == "time_limit"
    assert final.text == "Stopped: the time limit of 0.3 s was reached before a final answer."
    assert model.closed == 1


def test_a_model_that_fails_mid_run_ends_it_with_a_failure_event() -> None:
    model = ScriptedModel(
        [["Action: calculator\nAction Input: 3 * 3"], ServiceUnavailable("model 'x' is unavailable: gone")]
    )
    events = run(react_agent(model))
    assert steps_of(events)[0].output == "9"
    assert events[-2:] == [
        AnswerDelta("Stopped: model 'x' is unavailable: gone"),
        Final("Stopped: model 'x' is unavailable: gone", "error"),
    ]
    [failure] = [e for e in events if isinstance(e, Failure)]
    assert http_status(failure.error) == 503 and failure.error.message == "model 'x' is unavailable: gone"


def test_a_model_that_is_down_fails_before_any_event() -> None:
    model = ScriptedModel([ServiceUnavailable("model 'x' is unavailable")])
    with pytest.raises(ServiceUnavailable):
        run(react_agent(model))


# ---- native tool calls ---------------------------------------------------------------------------


def test_native_streams_the_answer_split_across_chunks_without_markup() -> None:
    model = ScriptedModel([["The answer", " is 4.", " <tool_re", "sponse>junk</tool_response>"]])
    events = run(native_agent(model))
    assert answer_of(events) == "The answer is 4. "
    assert events[-1] == Final("The answer is 4.", "answer")


def test_native_runs_calls_and_sends_results_back_as_tool_messages() -> None:
    model = ScriptedModel(
        [
            [
                [
                    call("calculator", {"expression": "17 * 23"}, "a"),
                    call("unit_conversion", {"request": "1 km to m"}, "b"),
                ]
            ],
            ["17 * 23 is 391."],
        ]
    )
    events = run(native_agent(model, first_tool="calculator"))
    assert [(s.tool, s.tool_input, s.output, s.ok) for s in steps_of(events)] == [
        ("calculator", "17 * 23", "391", True),
        ("unit_conversion", "1 km to m", "1 km = 1000 m", True),
    ]
    assert model.choices == [{"type": "function", "function": {"name": "calculator"}}, "auto"]
    assistant, first, second = model.seen[1][-3:]
    assert assistant["role"] == "assistant" and [c["id"] for c in assistant["tool_calls"]] == ["a", "b"]
    assert first == {"role": "tool", "tool_call_id": "a", "content": "391"}
    assert second == {"role": "tool", "tool_call_id": "b", "content": "1 km = 1000 m"}
    assert events[-1] == Final("17 * 23 is 391.", "answer")


def test_native_malformed_calls_are_answered_with_errors_the_model_can_fix() -> None:
    model = ScriptedModel(
        [
            [[call("calculator", "{oops", "a"), call("", "{}", "b"), call("teleport", "{}", "c")]],
            [[call("calculator", {"expression": "2 + 2"})]],
            ["4"],
        ]
    )
    events = run(native_agent(model))
    bad_json, no_name, unknown, good = steps_of(events)
    assert bad_json.tool == "calculator" and bad_json.output.startswith(
        "Error: the arguments are not valid JSON"
    )
    assert no_name.tool is None and no_name.output == "The call names no tool."
    assert unknown.tool == "teleport" and unknown.output.startswith("Unknown tool 'teleport'.")
    assert not any(s.ok for s in (bad_json, no_name, unknown))
    assert good.ok and good.output == "4" and good.index == 4
    assert events[-1] == Final("4", "answer")


def test_native_step_limit_counts_every_call_even_within_one_reply() -> None:
    calls = [call("calculator", {"expression": f"{n} + 1"}, f"c{n}") for n in range(3)]
    model = ScriptedModel([[calls]])
    events = run(native_agent(model, max_steps=2))
    assert [s.output for s in steps_of(events)] == ["1", "2"]
    assert events[-1] == Final(
        "Stopped after 2 steps without a final answer. The last tool result was: 2", "step_limit"
    )


def test_native_time_limit_while_waiting_for_the_first_step() -> None:
    model = ScriptedModel([[Slow(5.0, "late")]])
    events = run(native_agent(model, time_limit=0.2))
    assert events[-1] == Final(
        "Stopped: the time limit of 0.2 s was reached before a final answer.", "time_limit"
    )


def test_native_an_empty_or_markup_only_answer_says_so() -> None:
    for pieces in (["  "], ["[TOOL_CALLS]", "[{broken"]):
        events = run(native_agent(ScriptedModel([pieces])))
        assert events[-2:] == [
            AnswerDelta("(the model gave no answer)"),
            Final("(the model gave no answer)", "answer"),
        ]


def test_native_a_reply_of_only_markup_after_a_tool_ran_still_shows_the_result() -> None:
    model = ScriptedModel(
        [[[call("calculator", {"expression": "6 * 7"})]], ["<tool_response>", "\n42\n</tool_response>"]]
    )
    events = run(native_agent(model))
    final = "The model gave no answer. The last tool result was: 42"
    assert events[-2:] == [AnswerDelta(final), Final(final, "answer")]
