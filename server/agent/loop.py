"""The agent loop: ask the model, run the tool it picked, show it the result, until it answers.

It always ends with a ``Final`` event: the model's answer, or a clear message when the step
limit, the time limit or a model failure stopped it. A reply that is not a valid tool call, or
names a tool that does not exist, is shown to the model as the observation so it can correct
itself; it counts as a step, so a model that never learns still stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from configs.settings import AgentSettings
from server.agent import react
from server.agent.toolbox import Toolbox, run_tool
from server.core.errors import DomainError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Message = dict[str, str]
OpenStep = Callable[[list[Message]], Awaitable[AsyncIterator[str]]]


@dataclass(frozen=True)
class ToolStep:
    index: int
    tool: str | None  # None: the reply was not a valid call
    tool_input: str
    output: str
    ok: bool


@dataclass(frozen=True)
class AnswerDelta:
    text: str


@dataclass(frozen=True)
class Failure:
    error: DomainError


@dataclass(frozen=True)
class Final:
    text: str
    reason: Literal["answer", "step_limit", "time_limit", "error"]


Event = ToolStep | AnswerDelta | Failure | Final


async def within(items: AsyncIterator[T], deadline: float) -> AsyncIterator[T]:
    """``items``, each awaited under the run's deadline; the deadline never wraps the consumer's code."""
    iterator = aiter(items)
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                item = await anext(iterator)
        except StopAsyncIteration:
            return
        yield item


def out_of_time(settings: AgentSettings) -> list[Event]:
    message = f"Stopped: the time limit of {settings.time_limit:g} s was reached before a final answer."
    return [AnswerDelta(message), Final(message, "time_limit")]


def step_limit_reached(steps: int, last_output: str | None) -> list[Event]:
    message = f"Stopped after {steps} steps without a final answer."
    if last_output:
        message += f" The last tool result was: {last_output}"
    return [AnswerDelta(message), Final(message, "step_limit")]


def model_failed(exc: DomainError) -> list[Event]:
    logger.warning("agent stopped by a model failure: %s", exc.message)
    message = f"Stopped: {exc.message}"
    return [Failure(exc), AnswerDelta(message), Final(message, "error")]


class ReactAgent:
    def __init__(self, toolbox: Toolbox, settings: AgentSettings, open_step: OpenStep) -> None:
        self._toolbox = toolbox
        self._settings = settings
        self._open_step = open_step

    async def start(self, messages: list[Message]) -> AsyncIterator[Event]:
        """Open the first step now, so an unknown or unreachable model fails before any event."""
        deadline = asyncio.get_running_loop().time() + self._settings.time_limit
        try:
            async with asyncio.timeout_at(deadline):
                first = await self._open_step(messages)
        except TimeoutError:
            return self._out_of_time()
        return self._run(list(messages), first, deadline)

    async def _out_of_time(self) -> AsyncIterator[Event]:
        for event in out_of_time(self._settings):
            yield event

    async def _run(
        self, messages: list[Message], deltas: AsyncIterator[str], deadline: float
    ) -> AsyncIterator[Event]:
        # Deadlines wrap each await, never a ``yield``: a timeout must not fire in the consumer's code.
        steps = 0
        last_output: str | None = None
        try:
            while True:
                text, streamed = "", False
                async for event in self._read_step(deltas, deadline):
                    if isinstance(event, tuple):
                        text, streamed = event
                    else:
                        yield event
                parsed = react.parse(text)
                if isinstance(parsed, react.FinalAnswer):
                    if not streamed:
                        yield AnswerDelta(parsed.text)
                    yield Final(parsed.text, "answer")
                    return
                steps += 1
                async with asyncio.timeout_at(deadline):
                    step = await self._act(parsed, steps)
                if step.ok:
                    last_output = step.output
                yield step
                if steps >= self._settings.max_steps:
                    for event in step_limit_reached(steps, last_output):
                        yield event
                    return
                messages += [
                    {"role": "assistant", "content": react.strip_observation(text) or "(no reply)"},
                    {"role": "user", "content": f"Observation: {step.output}"},
                ]
                async with asyncio.timeout_at(deadline):
                    deltas = await self._open_step(messages)
        except TimeoutError:
            async for event in self._out_of_time():
                yield event
        except DomainError as exc:
            for event in model_failed(exc):
                yield event

    async def _read_step(
        self, deltas: AsyncIterator[str], deadline: float
    ) -> AsyncIterator[AnswerDelta | tuple[str, bool]]:
        """Stream one reply; the text after 'Final Answer:' goes out as it arrives.

        Ends with ``(full text, whether part of it was streamed as the answer)``.
        """
        text = ""
        emitted: int | None = None  # where the streamed part of the final answer ends, once it started
        streamed = False
        try:
            async for delta in within(deltas, deadline):
                text += delta
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
            aclose = getattr(deltas, "aclose", None)
            if aclose is not None:
                await aclose()
        yield text, streamed

    async def _act(self, parsed: react.ToolCall | react.Malformed, index: int) -> ToolStep:
        if isinstance(parsed, react.Malformed):
            return ToolStep(
                index, None, "", f"Invalid format: {parsed.reason}. {react.FORMAT_REMINDER}", False
            )
        tool = self._toolbox.find(parsed.tool)
        if tool is None:
            output = (
                f"Unknown tool {parsed.tool!r}. Available tools: {', '.join(self._toolbox.names)}. "
                f"{react.FORMAT_REMINDER}"
            )
            return ToolStep(index, parsed.tool, parsed.tool_input, output, False)
        output, ok = await run_tool(tool, parsed.tool_input, self._settings.observation_max_chars)
        return ToolStep(index, tool.name, parsed.tool_input, output, ok)
