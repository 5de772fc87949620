"""The agent for models trained to call tools: OpenAI ``tools`` in, ``tool_calls`` out.

Same events, limits and endings as the ReAct agent (``server.agent.loop``); only the protocol
differs. Each reply either calls tools — they run, and their results go back as ``tool``
messages — or is the answer, streamed as it is written. A call of an unknown tool or with
unreadable arguments is answered with an error result the model can correct, and counts as a
step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from configs.settings import AgentSettings
from server.agent.loop import (
    AnswerDelta,
    Event,
    Final,
    ToolStep,
    model_failed,
    out_of_time,
    step_limit_reached,
    within,
)
from server.agent.toolbox import Toolbox, call_input, run_tool
from server.agent.tools.base import ToolError
from server.core.errors import DomainError

StepPiece = str | list[dict[str, Any]]  # text as it streams; the calls come last
OpenToolStep = Callable[[list[dict[str, Any]], str | dict[str, Any]], Awaitable[AsyncIterator[StepPiece]]]


class ToolCallingAgent:
    def __init__(
        self,
        toolbox: Toolbox,
        settings: AgentSettings,
        open_step: OpenToolStep,
        first_tool: str | None = None,
    ) -> None:
        self._toolbox = toolbox
        self._settings = settings
        self._open_step = open_step
        self._first_choice: str | dict[str, Any] = (
            {"type": "function", "function": {"name": first_tool}} if first_tool else "auto"
        )

    async def start(self, messages: list[dict[str, Any]]) -> AsyncIterator[Event]:
        """Open the first step now, so an unknown or unreachable model fails before any event."""
        deadline = asyncio.get_running_loop().time() + self._settings.time_limit
        try:
            async with asyncio.timeout_at(deadline):
                first = await self._open_step(messages, self._first_choice)
        except TimeoutError:
            return _events(out_of_time(self._settings))
        return self._run(list(messages), first, deadline)

    async def _run(
        self, messages: list[dict[str, Any]], pieces: AsyncIterator[StepPiece], deadline: float
    ) -> AsyncIterator[Event]:
        steps = 0
        last_output: str | None = None
        try:
            while True:
                text, calls = "", []
                async for piece in within(pieces, deadline):
                    if isinstance(piece, str):
                        text += piece
                        yield AnswerDelta(piece)
                    else:
                        calls = piece
                if not calls:
                    answer = text.strip()
                    if not answer:
                        answer = "(the model gave no answer)"
                        yield AnswerDelta(answer)
                    yield Final(answer, "answer")
                    return
                messages.append({"role": "assistant", "content": text or None, "tool_calls": calls})
                for call in calls:
                    steps += 1
                    async with asyncio.timeout_at(deadline):
                        step = await self._act(call, steps)
                    if step.ok:
                        last_output = step.output
                    yield step
                    messages.append(
                        {"role": "tool", "tool_call_id": call.get("id", ""), "content": step.output}
                    )
                    if steps >= self._settings.max_steps:
                        for event in step_limit_reached(steps, last_output):
                            yield event
                        return
                async with asyncio.timeout_at(deadline):
                    pieces = await self._open_step(messages, "auto")
        except TimeoutError:
            for event in out_of_time(self._settings):
                yield event
        except DomainError as exc:
            for event in model_failed(exc):
                yield event

    async def _act(self, call: dict[str, Any], index: int) -> ToolStep:
        function = call.get("function") or {}
        name, arguments = str(function.get("name", "")), str(function.get("arguments") or "")
        tool = self._toolbox.find(name)
        if tool is None:
            output = f"Unknown tool {name!r}. Available tools: {', '.join(self._toolbox.names)}."
            return ToolStep(index, name or None, arguments, output, False)
        try:
            tool_input = call_input(tool, arguments)
        except ToolError as exc:
            return ToolStep(index, tool.name, arguments, f"Error: {exc}", False)
        output, ok = await run_tool(tool, tool_input, self._settings.observation_max_chars)
        return ToolStep(index, tool.name, tool_input, output, ok)


async def _events(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event
