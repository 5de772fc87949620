"""How each model family writes tool calls, and the markup none of it may leave in an answer.

Tool-trained families do not agree on a format:

* ``hermes`` (Qwen 2/2.5/3, QwQ, Hermes, SmolLM3 and most fine-tunes):
  ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, results in ``<tool_response>``;
* ``llama3`` (Llama 3.1 and later): a bare JSON object ``{"name": ..., "parameters": {...}}``,
  sometimes after ``<|python_tag|>``, several separated by ``;``; results in the ``ipython`` role;
* ``mistral``: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}]``, or in newer tokenizers
  ``[TOOL_CALLS]name[ARGS]{...}``; tools in ``[AVAILABLE_TOOLS]``, results in ``[TOOL_RESULTS]``;
* ``glm4``: GLM-4's ``name\\n{...}`` (the function's name on the first line, then its arguments),
  and GLM-4.5's ``<tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>``.

Each :class:`ToolFormat` knows both directions: how to write tools, calls and results as plain
text for a model whose chat template cannot (``instructions``, ``call_text``, ``results_text``),
and how to find the calls in what it wrote (``parse``), also while it streams
(``call_start``, ``may_lead``). :func:`detect_format` picks one from the chat template or the
model's name; ``tool_call_format`` in the settings overrides it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

FormatName = Literal["hermes", "llama3", "mistral", "glm4"]
FORMAT_NAMES: tuple[FormatName, ...] = ("hermes", "llama3", "mistral", "glm4")


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: dict[str, Any]


# ---- markup that never reaches an answer -------------------------------------------------------

# (opener, closer): the opener and everything up to the closer is dropped; closer None: to the end.
_BLOCKS: tuple[tuple[str, str | None], ...] = (
    ("<tool_call>", "</tool_call>"),
    ("<tool_response>", "</tool_response>"),
    ("<tools>", "</tools>"),
    ("[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]"),
    ("[TOOL_RESULTS]", "[/TOOL_RESULTS]"),
    ("[TOOL_CALLS]", None),
    ("<|python_tag|>", None),
    ("<|observation|>", None),
    ("<|start_header_id|>ipython", None),
)
# Stray closers and end-of-turn tokens: dropped alone.
_TOKENS = (
    "</tool_call>",
    "</tool_response>",
    "</tools>",
    "[/TOOL_RESULTS]",
    "[/AVAILABLE_TOOLS]",
    "<|eom_id|>",
    "<|eot_id|>",
    "[ARGS]",
    "[CALL_ID]",
    "<arg_key>",
    "</arg_key>",
    "<arg_value>",
    "</arg_value>",
)
_OPENERS: tuple[tuple[str, str | None, bool], ...] = tuple(
    [(opener, closer, True) for opener, closer in _BLOCKS] + [(token, None, False) for token in _TOKENS]
)
MARKUP = tuple(opener for opener, _, _ in _OPENERS)


def partial_suffix(text: str, markers: Iterable[str]) -> int:
    """How many trailing characters of ``text`` could still grow into one of ``markers``."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest


class MarkupFilter:
    """Streams text through with every family's tool markup taken out.

    A call block the reader could not use, an invented ``<tool_response>``, a ``[TOOL_CALLS]`` tail:
    none of it is an answer. What may still grow into markup is held until it is decided.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._closer: str | None = None  # inside a block: what ends it
        self._dropping = False  # inside a block that runs to the end

    def feed(self, delta: str) -> str:
        self._pending += delta
        out: list[str] = []
        while self._pending:
            if self._dropping:
                self._pending = ""
                break
            if self._closer is not None:
                end = self._pending.find(self._closer)
                if end < 0:
                    keep = partial_suffix(self._pending, [self._closer])
                    self._pending = self._pending[len(self._pending) - keep :] if keep else ""
                    break
                self._pending = self._pending[end + len(self._closer) :]
                self._closer = None
                continue
            found = [(i, o, c, b) for o, c, b in _OPENERS if (i := self._pending.find(o)) >= 0]
            if not found:
                hold = partial_suffix(self._pending, MARKUP)
                cut = len(self._pending) - hold
                out.append(self._pending[:cut])
                self._pending = self._pending[cut:]
                break
            start, opener, closer, block = min(found, key=lambda f: (f[0], -len(f[1])))
            out.append(self._pending[:start])
            self._pending = self._pending[start + len(opener) :]
            if block:
                if closer is None:
                    self._dropping = True
                else:
                    self._closer = closer
        return "".join(out)

    def finish(self) -> str:
        """What was held back because it might have become markup, and did not."""
        rest = "" if (self._closer is not None or self._dropping) else self._pending
        self._pending = ""
        return rest


def scrub_markup(text: str) -> str:
    markup = MarkupFilter()
    return markup.feed(text) + markup.finish()


def has_markup(text: str) -> bool:
    return any(marker in text for marker in MARKUP)


# ---- argument helpers ---------------------------------------------------------------------------


def _arguments(value: Any) -> dict[str, Any] | None:
    """A call's arguments as a dict: an object, or a string holding one (an empty string is none)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _call_object(value: Any) -> ParsedCall | None:
    """``{"name": ..., "arguments"|"parameters": {...}}`` (OpenAI's nested ``function`` too)."""
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        value = value["function"]
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        return None
    arguments = _arguments(value.get("arguments", value.get("parameters", {})))
    return None if arguments is None else ParsedCall(value["name"].strip(), arguments)


def _json_values(text: str) -> list[Any] | None:
    """Consecutive JSON values separated by whitespace, ``;`` or ``,``; None if anything else is there."""
    decoder = json.JSONDecoder()
    values, at = [], 0
    while True:
        while at < len(text) and text[at] in " \t\r\n;,":
            at += 1
        if at >= len(text):
            return values
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            return None
        values.append(value)


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _unfence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _dump(arguments: Any) -> str:
    if isinstance(arguments, str):
        parsed = _arguments(arguments)
        arguments = parsed if parsed is not None else arguments
    return json.dumps(arguments, ensure_ascii=False)


def _signatures(tools: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)


def _functions(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [tool.get("function", tool) for tool in tools]


# ---- the families -------------------------------------------------------------------------------


class ToolFormat:
    """One family's tool-call format; the defaults are Hermes'."""

    name: FormatName = "hermes"
    call_markers: tuple[str, ...] = ("<tool_call>",)

    def instructions(self, tools: list[dict[str, Any]], forced: str | None) -> str:
        raise NotImplementedError

    def call_text(self, calls: list[dict[str, Any]]) -> str:
        """An assistant turn's OpenAI ``tool_calls`` as the model would have written them."""
        raise NotImplementedError

    def results_text(self, results: list[str]) -> str:
        """Consecutive tool results as the text of one user turn."""
        raise NotImplementedError

    def call_start(self, text: str, start: int) -> int | None:
        """Where a call begins in ``text[start:]`` (an index into ``text``), if it does."""
        found = [i for marker in self.call_markers if (i := text.find(marker, start)) >= 0]
        return min(found) if found else None

    def may_lead(self, reply: str, names: list[str]) -> bool:
        """Whether a reply that begins like this (stripped) could be a call without a marker."""
        return False

    def parse(self, text: str, names: list[str]) -> list[ParsedCall] | None:
        """The calls in ``text`` (from where a call starts); None when they are not readable."""
        raise NotImplementedError


class HermesFormat(ToolFormat):
    name: FormatName = "hermes"
    call_markers = ("<tool_call>",)
    _BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)

    def instructions(self, tools: list[dict[str, Any]], forced: str | None) -> str:
        prompt = (
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n"
            f"<tools>\n{_signatures(tools)}\n</tools>\n\n"
            "For each function call, return a json object with function name and arguments within "
            "<tool_call></tool_call> XML tags:\n"
            '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
        )
        return prompt + (f"\n\nCall the function {forced} now." if forced else "")

    def call_text(self, calls: list[dict[str, Any]]) -> str:
        blocks = []
        for call in calls:
            function = call.get("function") or {}
            arguments = function.get("arguments", "{}")
            parsed = _arguments(arguments)
            body = json.dumps(
                {"name": function.get("name", ""), "arguments": parsed if parsed is not None else arguments},
                ensure_ascii=False,
            )
            blocks.append(f"<tool_call>\n{body}\n</tool_call>")
        return "\n".join(blocks)

    def results_text(self, results: list[str]) -> str:
        return "\n".join(f"<tool_response>\n{result}\n</tool_response>" for result in results)

    def may_lead(self, reply: str, names: list[str]) -> bool:
        return reply.startswith(("{", "```"))  # small models often drop the tags

    def parse(self, text: str, names: list[str]) -> list[ParsedCall] | None:
        blocks = list(self._BLOCK.finditer(text))
        if not blocks:  # a bare JSON call, tags left out
            value = _json_values(_unfence(text))
            calls = [_call_object(v) for v in value] if value else None
            return calls if calls and all(calls) else None  # type: ignore[return-value]
        calls = []
        for block in blocks:
            call = _call_object(_single_json(_unfence(block.group(1))))
            if call is None:
                return None
            calls.append(call)
        return calls


class Llama3Format(ToolFormat):
    name: FormatName = "llama3"
    call_markers = ("<|python_tag|>",)

    def instructions(self, tools: list[dict[str, Any]], forced: str | None) -> str:
        prompt = (
            "Given the following functions, please respond with a JSON for a function call with its "
            "proper arguments that best answers the given prompt.\n\n"
            'Respond in the format {"name": function name, "parameters": dictionary of argument name '
            "and its value}. Do not use variables.\n\n"
            f"{_signatures(tools)}"
        )
        return prompt + (f"\n\nCall the function {forced} now." if forced else "")

    def call_text(self, calls: list[dict[str, Any]]) -> str:
        return "; ".join(
            json.dumps(
                {
                    "name": (c.get("function") or {}).get("name", ""),
                    "parameters": _arguments((c.get("function") or {}).get("arguments", "{}")) or {},
                },
                ensure_ascii=False,
            )
            for c in calls
        )

    def results_text(self, results: list[str]) -> str:
        return "\n".join(results)

    def may_lead(self, reply: str, names: list[str]) -> bool:
        return reply.startswith(("{", "```"))

    def parse(self, text: str, names: list[str]) -> list[ParsedCall] | None:
        body = text.strip()
        body = body.removeprefix("<|python_tag|>")
        body = re.sub(r"<\|eo[mt]_id\|>\s*$", "", body.strip())
        values = _json_values(_unfence(body))
        calls = [_call_object(v) for v in values] if values else None
        return calls if calls and all(calls) else None  # type: ignore[return-value]


class MistralFormat(ToolFormat):
    name: FormatName = "mistral"
    call_markers = ("[TOOL_CALLS]",)
    _NAMED = re.compile(r"\[TOOL_CALLS\]\s*([A-Za-z0-9_.-]+)\s*(?:\[CALL_ID\]\s*\w+\s*)?\[ARGS\]")

    def instructions(self, tools: list[dict[str, Any]], forced: str | None) -> str:
        prompt = (
            f"[AVAILABLE_TOOLS]{json.dumps(tools, ensure_ascii=False)}[/AVAILABLE_TOOLS]\n"
            'To call tools, answer with [TOOL_CALLS][{"name": <function-name>, "arguments": '
            "<args-json-object>}] and nothing else."
        )
        return prompt + (f"\n\nCall the function {forced} now." if forced else "")

    def call_text(self, calls: list[dict[str, Any]]) -> str:
        body = [
            {
                "name": (c.get("function") or {}).get("name", ""),
                "arguments": _arguments((c.get("function") or {}).get("arguments", "{}")) or {},
            }
            for c in calls
        ]
        return f"[TOOL_CALLS]{json.dumps(body, ensure_ascii=False)}"

    def results_text(self, results: list[str]) -> str:
        return "".join(
            f"[TOOL_RESULTS]{json.dumps({'content': r}, ensure_ascii=False)}[/TOOL_RESULTS]" for r in results
        )

    def may_lead(self, reply: str, names: list[str]) -> bool:
        return reply.startswith(("[{", "{"))

    def parse(self, text: str, names: list[str]) -> list[ParsedCall] | None:
        body = re.sub(r"</s>\s*$", "", text.strip())
        named = list(self._NAMED.finditer(body))
        if named:  # [TOOL_CALLS]name[ARGS]{...} (v11+ tokenizers), one marker per call
            calls = []
            for match, following in zip(named, [*named[1:], None], strict=True):
                end = following.start() if following else len(body)
                arguments = _single_json(body[match.end() : end])
                if not isinstance(arguments, dict):
                    return None
                calls.append(ParsedCall(match.group(1), arguments))
            return calls
        values = _json_values(_unfence(body.replace("[TOOL_CALLS]", " ")))
        if not values:
            return None
        flat = [item for value in values for item in (value if isinstance(value, list) else [value])]
        calls = [_call_object(item) for item in flat]
        return calls if calls and all(calls) else None  # type: ignore[return-value]


class Glm4Format(ToolFormat):
    name: FormatName = "glm4"
    call_markers = ("<tool_call>",)
    _BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
    _PAIR = re.compile(r"<arg_key>\s*(.*?)\s*</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)

    def instructions(self, tools: list[dict[str, Any]], forced: str | None) -> str:
        parts = ["# 可用工具"]
        for function in _functions(tools):
            parts.append(
                f"\n## {function.get('name', '')}\n\n{json.dumps(function, ensure_ascii=False, indent=4)}"
            )
            parts.append("在调用上述函数时，请使用 Json 格式表示调用的参数。")
        parts.append(
            "\nTo call a function, answer with its name on the first line and its arguments as a "
            "JSON object on the next line, and nothing else."
        )
        prompt = "\n".join(parts)
        return prompt + (f"\n\nCall the function {forced} now." if forced else "")

    def call_text(self, calls: list[dict[str, Any]]) -> str:
        functions = [c.get("function") or {} for c in calls]
        return "\n".join(f"{f.get('name', '')}\n{_dump(f.get('arguments', '{}'))}" for f in functions)

    def results_text(self, results: list[str]) -> str:
        return "\n".join(results)

    def may_lead(self, reply: str, names: list[str]) -> bool:
        first, newline, _ = reply.partition("\n")
        first = first.strip()
        if newline:
            return first in names
        return any(name.startswith(first) for name in names) or reply.startswith("{")

    def parse(self, text: str, names: list[str]) -> list[ParsedCall] | None:
        body = text.strip()
        blocks = list(self._BLOCK.finditer(body))
        if blocks:  # GLM-4.5: <tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>
            calls = []
            for block in blocks:
                inner = block.group(1)
                name, _, rest = inner.partition("<arg_key>")
                name = name.strip()
                if not name:
                    return None
                rest = "<arg_key>" + rest if rest else ""
                arguments: dict[str, Any] = {}
                for match in self._PAIR.finditer(rest):
                    value = match.group(2).strip()
                    try:
                        arguments[match.group(1)] = json.loads(value)
                    except ValueError:
                        arguments[match.group(1)] = value
                if "{" in name:  # <tool_call>{"name": ...}</tool_call> written Hermes-style
                    call = _call_object(_single_json(name))
                    if call is None:
                        return None
                    calls.append(call)
                    continue
                calls.append(ParsedCall(name, arguments))
            return calls
        if body.partition("\n")[0].strip() in names:  # GLM-4: name, newline, JSON arguments (repeated)
            return _named_lines_parse(body, names)
        value = _json_values(_unfence(body))
        calls = [_call_object(v) for v in value] if value else None
        return calls if calls and all(calls) else None  # type: ignore[return-value]


def _named_lines_parse(body: str, names: list[str]) -> list[ParsedCall] | None:
    decoder = json.JSONDecoder()
    calls, at = [], 0
    while True:
        while at < len(body) and body[at].isspace():
            at += 1
        if at >= len(body):
            return calls or None
        end = body.find("\n", at)
        name = body[at : end if end >= 0 else len(body)].strip()
        if name not in names:
            return None
        at = len(body) if end < 0 else end + 1
        while at < len(body) and body[at] in " \t\r\n":
            at += 1
        if at >= len(body) or body[at] != "{":
            calls.append(ParsedCall(name, {}))
            continue
        try:
            arguments, at = decoder.raw_decode(body, at)
        except ValueError:
            return None
        if not isinstance(arguments, dict):
            return None
        calls.append(ParsedCall(name, arguments))


def _single_json(text: str) -> Any:
    values = _json_values(text.strip())
    return values[0] if values and len(values) == 1 else None


FORMATS: dict[FormatName, ToolFormat] = {
    "hermes": HermesFormat(),
    "llama3": Llama3Format(),
    "mistral": MistralFormat(),
    "glm4": Glm4Format(),
}

_NAME_HINTS: tuple[tuple[re.Pattern[str], FormatName], ...] = (
    (re.compile(r"llama-?3\.[1-9]|llama-?3-?[1-9]|llama-?[4-9]", re.IGNORECASE), "llama3"),
    (re.compile(r"mistral|mixtral|ministral|codestral|magistral|devstral", re.IGNORECASE), "mistral"),
    (re.compile(r"glm-?4|chatglm4", re.IGNORECASE), "glm4"),
)


def detect_format(chat_template: str | None = None, model: str = "") -> FormatName:
    """The family's format, from what its chat template writes, else from the model's name."""
    template = chat_template or ""
    if "[TOOL_CALLS]" in template:
        return "mistral"
    if "<arg_key>" in template or "<|observation|>" in template:
        return "glm4"
    if "<|python_tag|>" in template or "ipython" in template:
        return "llama3"
    if "<tool_call>" in template:
        return "hermes"
    for pattern, name in _NAME_HINTS:
        if pattern.search(model):
            return name
    return "hermes"


def template_renders_tools(chat_template: str | None) -> bool:
    """Whether a chat template writes ``tools`` and tool results itself (HF's tool-use templates do)."""
    return bool(chat_template) and "tools" in chat_template and "tool" in chat_template.replace("tools", "")
