"""OpenAI tool calls as an agent strategy, for models trained to call tools: ``tools`` in,
``tool_calls`` out, results back as ``tool`` messages.

Each reply either calls tools or is the answer, streamed as it is written. A call of an unknown
tool or with unreadable arguments is answered with an error result the model can correct.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from server.agent.loop import AnswerDelta, Call, Message, Reply, Result, close

StepPiece = str | list[dict[str, Any]]  # text as it streams; the calls come last
OpenToolStep = Callable[[list[Message], str | dict[str, Any]], Awaitable[AsyncIterator[StepPiece]]]


class ToolCallingStrategy:
    reminder = ""

    def __init__(self, open_step: OpenToolStep) -> None:
        self._open_step = open_step

    async def open(self, messages: list[Message], forced: str | None) -> AsyncIterator[Any]:
        choice: str | dict[str, Any] = (
            {"type": "function", "function": {"name": forced}} if forced else "auto"
        )
        return await self._open_step(messages, choice)

    async def read(self, pieces: AsyncIterator[Any]) -> AsyncIterator[AnswerDelta | Reply]:
        text, calls = "", []
        try:
            async for piece in pieces:
                if isinstance(piece, str):
                    text += piece
                    yield AnswerDelta(piece)
                else:
                    calls = piece
        finally:
            await close(pieces)
        yield Reply(text, tuple(_call(call) for call in calls), answer=text)

    def follow_up(self, messages: list[Message], reply: Reply, results: list[Result]) -> None:
        calls = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.tool or "", "arguments": call.arguments},
            }
            for call in reply.calls
        ]
        messages.append({"role": "assistant", "content": reply.text or None, "tool_calls": calls})
        for result in results:
            messages.append(
                {"role": "tool", "tool_call_id": result.call.call_id, "content": result.step.output}
            )


def _call(call: dict[str, Any]) -> Call:
    function = call.get("function") or {}
    name = str(function.get("name") or "").strip()
    arguments = str(function.get("arguments") or "")
    call_id = str(call.get("id") or "")
    if not name:
        return Call(None, arguments, json=True, call_id=call_id, problem="The call names no tool")
    return Call(name, arguments, json=True, call_id=call_id)
