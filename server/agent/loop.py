"""The agent loop: ask the model, run the tools it picked, show it the results, until it answers.

One loop serves both protocols a model may speak; a :class:`Strategy` is the protocol (ReAct
text in ``server.agent.react_strategy``, OpenAI tool calls in ``server.agent.tool_calling``):
how a step is asked for, how a reply is read, and how results go back. The loop owns what they
share: the run's deadline, the step limit, tool execution, and the endings.

It always ends with a ``Final`` event: the model's answer, or a clear message when the step
limit, the time limit or a model failure stopped it. A reply that is not a valid tool call, or
names a tool that does not exist, is shown to the model as the observation so it can correct
itself; it counts as a step, so a model that never learns still stops. No protocol markup a
model imitates (``<tool_call>``, ``[TOOL_CALLS]``, ...) reaches the answer's text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from configs.settings import AgentSettings
from server.agent.toolbox import Toolbox, run_tool
from server.agent.tools.base import Arguments, ToolError
from server.core.errors import DomainError
from server.llm.tool_formats import MarkupFilter, scrub_markup

logger = logging.getLogger(__name__)

T = TypeVar("T")
Message = dict[str, Any]
NO_ANSWER = "(the model gave no answer)"


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


@dataclass(frozen=True)
class Call:
    """One tool call as the model wrote it."""

    tool: str | None  # None: the reply was not readable as a call
    arguments: str  # a ReAct input line, or a native call's JSON arguments
    json: bool = False  # True: ``arguments`` is a JSON object (native or forced calls)
    call_id: str = ""
    problem: str | None = None  # why the reply is not a valid call


@dataclass(frozen=True)
class Reply:
    """What one model step came to: tool calls, or the answer."""

    text: str  # the model's own words, for the transcript
    calls: tuple[Call, ...] = ()
    answer: str = ""  # with no calls: the answer (what of it streamed went out as AnswerDelta)


@dataclass
class Result:
    call: Call
    step: ToolStep
    arguments: Arguments | None = None  # None when the call never reached the tool


class Strategy(Protocol):
    """One protocol between the agent and the model."""

    reminder: str  # how to write a call, added to the observation of a call that could not be read

    async def open(self, messages: list[Message], forced: str | None) -> AsyncIterator[Any]:
        """Start one model step (``forced``: the tool the step must call); errors raise here."""
        ...

    def read(self, pieces: AsyncIterator[Any]) -> AsyncIterator[AnswerDelta | Reply]:
        """The step's reply: answer text as it streams, then one :class:`Reply`."""
        ...

    def follow_up(self, messages: list[Message], reply: Reply, results: list[Result]) -> None:
        """Append the reply and the tools' results to the transcript for the next step."""
        ...


async def within(items: AsyncIterator[T], deadline: float) -> AsyncIterator[T]:
    """``items``, each awaited under the run's deadline; the deadline never wraps the consumer's code."""
    iterator = aiter(items)
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    item = await anext(iterator)
            except StopAsyncIteration:
                return
            yield item
    finally:
        await close(iterator)


async def close(items: AsyncIterator[Any]) -> None:
    """Close a model stream that is left early, so its HTTP response is released now."""
    aclose = getattr(items, "aclose", None)
    if aclose is not None:
        await aclose()


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


async def _events(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event


@dataclass
class Agent:
    toolbox: Toolbox
    settings: AgentSettings
    strategy: Strategy
    first_tool: str | None = None  # a tool the first step must call
    _last_output: str | None = field(default=None, init=False)

    async def start(self, messages: list[Message]) -> AsyncIterator[Event]:
        """Open the first step now, so an unknown or unreachable model fails before any event."""
        deadline = asyncio.get_running_loop().time() + self.settings.time_limit
        try:
            async with asyncio.timeout_at(deadline):
                first = await self.strategy.open(messages, self.first_tool)
        except TimeoutError:
            return _events(out_of_time(self.settings))
        return self._run(list(messages), first, deadline)

    async def _run(
        self, messages: list[Message], pieces: AsyncIterator[Any], deadline: float
    ) -> AsyncIterator[Event]:
        # Deadlines wrap each await, never a ``yield``: a timeout must not fire in the consumer's code.
        steps = 0
        try:
            while True:
                reply: Reply | None = None
                visible = MarkupFilter()  # answer text as it streams, without protocol markup
                streamed = False
                async for item in within(self.strategy.read(pieces), deadline):
                    if isinstance(item, Reply):
                        reply = item
                    elif text := visible.feed(item.text):
                        streamed = streamed or bool(text.strip())
                        yield AnswerDelta(text)
                if reply is None:
                    reply = Reply(text="")
                if not reply.calls:
                    if text := visible.finish():
                        streamed = streamed or bool(text.strip())
                        yield AnswerDelta(text)
                    answer = scrub_markup(reply.answer).strip()
                    if not streamed:  # nothing of the answer went out as it was written
                        answer = answer or self._no_answer()
                        yield AnswerDelta(answer)
                    yield Final(answer or self._no_answer(), "answer")
                    return
                results: list[Result] = []
                for call in reply.calls:
                    steps += 1
                    async with asyncio.timeout_at(deadline):
                        result = await self._act(call, steps)
                    results.append(result)
                    yield result.step
                    if steps >= self.settings.max_steps:
                        for event in step_limit_reached(steps, self._last_output):
                            yield event
                        return
                self.strategy.follow_up(messages, reply, results)
                async with asyncio.timeout_at(deadline):
                    pieces = await self.strategy.open(messages, None)
        except TimeoutError:
            for event in out_of_time(self.settings):
                yield event
        except DomainError as exc:
            for event in model_failed(exc):
                yield event

    def _no_answer(self) -> str:
        """A reply with nothing to show (empty, or only markup): what the tools found is still news."""
        if self._last_output:
            return f"The model gave no answer. The last tool result was: {self._last_output}"
        return NO_ANSWER

    async def _act(self, call: Call, index: int) -> Result:
        reminder = f" {self.strategy.reminder}" if self.strategy.reminder else ""
        if call.problem is not None:
            return Result(
                call, ToolStep(index, call.tool, call.arguments, f"{call.problem}.{reminder}", False)
            )
        tool = self.toolbox.find(call.tool or "")
        if tool is None:
            output = (
                f"Unknown tool {call.tool!r}. Available tools: {', '.join(self.toolbox.names)}.{reminder}"
            )
            return Result(call, ToolStep(index, call.tool or None, call.arguments, output, False))
        try:
            arguments = tool.from_json(call.arguments) if call.json else tool.from_text(call.arguments)
        except ToolError as exc:
            return Result(call, ToolStep(index, tool.name, call.arguments, f"Error: {exc}", False))
        output, ok = await run_tool(tool, arguments, self.settings.observation_max_chars)
        if ok:
            self._last_output = output
        return Result(call, ToolStep(index, tool.name, tool.shown(arguments), output, ok), arguments)
