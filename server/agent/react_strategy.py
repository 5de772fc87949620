"""The ReAct protocol as an agent strategy: the model writes ``Action:`` lines, results come back as
``Observation:`` turns, and the text after ``Final Answer:`` streams out as it is written.

A step that must call a given tool (``tool_choice``) is not left to the model's compliance: it is
asked as a forced OpenAI tool call (constrained decoding where the worker can), and the call is
written into the transcript as the ReAct lines the model would have written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from server.agent import react
from server.agent.loop import AnswerDelta, Call, Message, Reply, Result, close
from server.agent.toolbox import Toolbox

OpenText = Callable[[list[Message]], Awaitable[AsyncIterator[str]]]
OpenForced = Callable[[list[Message], list[dict[str, Any]], dict[str, Any]], Awaitable[AsyncIterator[Any]]]


class ReactStrategy:
    reminder = react.FORMAT_REMINDER

    def __init__(self, toolbox: Toolbox, open_text: OpenText, open_forced: OpenForced | None = None) -> None:
        self._toolbox = toolbox
        self._open_text = open_text
        self._open_forced = open_forced

    async def open(self, messages: list[Message], forced: str | None) -> AsyncIterator[Any]:
        if forced is None or self._open_forced is None:
            return await self._open_text(messages)
        functions = [f for f in self._toolbox.functions() if f["function"]["name"] == forced]
        choice = {"type": "function", "function": {"name": forced}}
        return await self._open_forced(messages, functions, choice)

    async def read(self, pieces: AsyncIterator[Any]) -> AsyncIterator[AnswerDelta | Reply]:
        """Stream one reply; the text after 'Final Answer:' goes out as it arrives."""
        text = ""
        emitted: int | None = None  # where the streamed part of the final answer ends, once it started
        streamed = False
        try:
            async for piece in pieces:
                if not isinstance(piece, str):  # the calls of a forced step
                    yield Reply(text, tuple(_forced_call(call) for call in piece))
                    return
                text += piece
                if react.OBSERVATION_RE.search(text):
                    break  # the model is inventing the tool's result: stop it, as a stop sequence would
                if emitted is None:
                    final = react.FINAL_RE.search(text)
                    if final and not react.ACTION_RE.search(text[: final.start()]):
                        emitted = final.end()
                if emitted is not None and len(text) > emitted:
                    chunk = text[emitted:] if streamed else text[emitted:].lstrip()
                    emitted = len(text)
                    if chunk:
                        streamed = True
                        yield AnswerDelta(chunk)
        finally:
            await close(pieces)
        parsed = react.parse(text)
        if isinstance(parsed, react.FinalAnswer):
            yield Reply(text, answer=parsed.text)
        elif isinstance(parsed, react.Malformed):
            yield Reply(text, (Call(None, "", problem=f"Invalid format: {parsed.reason}"),))
        else:
            yield Reply(text, (Call(parsed.tool, parsed.raw_input or parsed.tool_input),))

    def follow_up(self, messages: list[Message], reply: Reply, results: list[Result]) -> None:
        for result in results:
            call = result.call
            if call.json:  # a forced call: the lines the model would have written
                said = (
                    f"Thought: I must use the {result.step.tool} tool first.\n"
                    f"Action: {result.step.tool}\nAction Input: {result.step.tool_input}"
                )
            else:
                said = react.strip_observation(reply.text) or "(no reply)"
            messages += [
                {"role": "assistant", "content": said},
                {"role": "user", "content": f"Observation: {result.step.output}"},
            ]


def _forced_call(call: dict[str, Any]) -> Call:
    function = call.get("function") or {}
    name = str(function.get("name") or "")
    return Call(
        name or None, str(function.get("arguments") or ""), json=True, call_id=str(call.get("id") or "")
    )
