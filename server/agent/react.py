"""The ReAct text protocol: what the model is asked to write, and a forgiving reader of what it wrote.

Small models bold the labels, number them, put the input in brackets or JSON, skip the
``Action Input`` line, invent an ``Observation`` or answer without any labels. The reader accepts
all of that; what it cannot read becomes a ``Malformed`` with a reason the model is told.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_LABEL_PREFIX = r"^[ \t>*_#`-]*"
_LABEL_SUFFIX = r"[ \t]*\d*[ \t*_`]*[:：][ \t*_]*"
FINAL_RE = re.compile(_LABEL_PREFIX + r"final[ _]?answer" + _LABEL_SUFFIX, re.IGNORECASE | re.MULTILINE)
ACTION_RE = re.compile(
    _LABEL_PREFIX + r"action(?![ _]?input)" + _LABEL_SUFFIX + r"(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE
)
INPUT_RE = re.compile(_LABEL_PREFIX + r"action[ _]?input" + _LABEL_SUFFIX, re.IGNORECASE | re.MULTILINE)
OBSERVATION_RE = re.compile(_LABEL_PREFIX + r"observation" + _LABEL_SUFFIX, re.IGNORECASE | re.MULTILINE)
ANY_LABEL_RE = re.compile(
    _LABEL_PREFIX
    + r"(?:thought|action|action[ _]?input|observation|final[ _]?answer|question)"
    + _LABEL_SUFFIX,
    re.IGNORECASE | re.MULTILINE,
)
_INLINE_CALL = re.compile(r"^(?P<name>[\w .-]+?)\s*[\[(](?P<arg>.*)[\])]\s*$", re.DOTALL)
_INPUT_KEYS = ("input", "query", "expression", "tool_input", "q", "text", "command")


@dataclass(frozen=True)
class ToolCall:
    tool: str
    tool_input: str  # cleaned: what a one-argument tool takes
    raw_input: str = field(default="", compare=False)  # as written: a JSON object for a tool of several


@dataclass(frozen=True)
class FinalAnswer:
    text: str


@dataclass(frozen=True)
class Malformed:
    reason: str


Parsed = ToolCall | FinalAnswer | Malformed

FORMAT_REMINDER = (
    "To use a tool, write 'Action: <tool name>' and 'Action Input: <input>' on their own lines; "
    "to answer, write 'Final Answer: <answer>'."
)


def strip_observation(text: str) -> str:
    """The model's own words: anything from an ``Observation:`` it made up onwards is dropped."""
    match = OBSERVATION_RE.search(text)
    return text[: match.start()].rstrip() if match else text.rstrip()


def _until_next_label(text: str) -> str:
    match = ANY_LABEL_RE.search(text)
    return text[: match.start()] if match else text


def clean_input(raw: str) -> str:
    """One tool input from a line, a code block, a quoted string or a small JSON object."""
    text = raw.strip()
    fence = re.fullmatch(r"```[\w-]*\s*(.*?)\s*```", text, re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    if text[:1] in '{["':
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, dict):
            for key in _INPUT_KEYS:
                if isinstance(value.get(key), str | int | float):
                    return str(value[key]).strip()
            if len(value) == 1 and isinstance(next(iter(value.values())), str | int | float):
                return str(next(iter(value.values()))).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        text = text[1:-1].strip()
    return text


def _tool_name(raw: str) -> str:
    name = raw.strip().strip("`'\"*[]().:").strip()
    return name


def parse(text: str) -> Parsed:
    text = strip_observation(text)
    action = ACTION_RE.search(text)
    final = FINAL_RE.search(text)
    if action and (final is None or action.start() < final.start()):
        rest = action.group("rest").strip()
        after = text[action.end() :]
        given = INPUT_RE.search(after)
        inline = _INLINE_CALL.match(rest)
        if inline and not given:
            name, raw = inline.group("name"), inline.group("arg")
        else:
            name = rest
            raw = _until_next_label(after[given.end() :]) if given else ""
        name = _tool_name(name)
        if not name:
            return Malformed("'Action:' names no tool")
        if name.lower() in ("none", "n/a", "final answer", "final_answer"):
            if final:
                return _final(text[final.end() :])
            return Malformed(f"'Action: {name}' is not a tool")
        return ToolCall(name, clean_input(raw), raw.strip())
    if final:
        return _final(text[final.end() :])
    if ANY_LABEL_RE.search(text):
        return Malformed("there is neither an 'Action:' nor a 'Final Answer:' line")
    if not text.strip():
        return Malformed("the reply is empty")
    return FinalAnswer(text.strip())  # a plain answer without the protocol is still an answer


def _final(rest: str) -> Parsed:
    answer = _until_next_label(rest).strip()
    if not answer:
        return Malformed("'Final Answer:' is empty")
    return FinalAnswer(answer)
