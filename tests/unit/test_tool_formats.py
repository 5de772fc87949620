"""Tool calls in each model family's own format, both ways: what the model is shown (plain-text
rendering and the model's own chat template) and what it writes, read back while it streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.llm.chat_template import ChatTemplate, from_capabilities, from_model_dir
from server.llm.tool_api import ModelToolSettings, tool_profile
from server.llm.tool_calls import ToolCallReader, ToolRequest, render_messages
from server.llm.tool_formats import FORMATS, MarkupFilter, detect_format, scrub_markup

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Arithmetic.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
    },
}
NAMES = ["get_weather", "calculator"]
PARIS = ("get_weather", {"city": "Paris"})
SUM = ("calculator", {"expression": "2+2"})
CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "18°C"},
]

# (family, what the model writes, the text people see, the calls read)
REPLIES = [
    (
        "hermes",
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        "Let me check.\n",
        [PARIS],
    ),
    (
        "hermes",
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
        '<tool_call>{"name": "calculator", "arguments": {"expression": "2+2"}}</tool_call>',
        "",
        [PARIS, SUM],
    ),
    (
        "llama3",
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
        "",
        [PARIS],
    ),
    (
        "llama3",
        '{"name": "get_weather", "parameters": {"city": "Paris"}}; '
        '{"name": "calculator", "parameters": {"expression": "2+2"}}',
        "",
        [PARIS, SUM],
    ),
    ("mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]', "", [PARIS]),
    (
        "mistral",
        'Checking. [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}'
        '[TOOL_CALLS]calculator[ARGS]{"expression": "2+2"}',
        "Checking. ",
        [PARIS, SUM],
    ),
    ("mistral", '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}</s>', "", [PARIS]),
    ("glm4", 'get_weather\n{"city": "Paris"}', "", [PARIS]),
    (
        "glm4",
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>"
        '<tool_call>calculator\n<arg_key>expression</arg_key>\n<arg_value>"2+2"</arg_value>\n</tool_call>',
        "",
        [PARIS, SUM],
    ),
]
PLAIN = "The weather in Paris is mild today; take a coat."


def read(
    family: str, chunks: list[str], forced: bool = False
) -> tuple[str, list[tuple[str, dict]], ToolCallReader]:
    reader = ToolCallReader(forced=forced, fmt=FORMATS[family], names=NAMES)  # type: ignore[index]
    shown = "".join(reader.feed(chunk) for chunk in chunks)
    rest, calls = reader.finish()
    return shown + rest, [(c.function.name, json.loads(c.function.arguments)) for c in calls], reader


def chunkings(text: str) -> list[list[str]]:
    """The whole reply at once, two halves, and one character at a time (how tokens really arrive)."""
    middle = len(text) // 2
    return [[text], [text[:middle], text[middle:]], list(text)]


@pytest.mark.parametrize(("family", "reply", "shown", "calls"), REPLIES)
def test_each_family_s_calls_are_read_while_they_stream(
    family: str, reply: str, shown: str, calls: list
) -> None:
    for chunks in chunkings(reply):
        got_shown, got_calls, _ = read(family, chunks)
        assert (got_shown, got_calls) == (shown, calls), (family, len(chunks))


@pytest.mark.parametrize("family", list(FORMATS))
def test_plain_answers_stream_through_every_family_at_once(family: str) -> None:
    reader = ToolCallReader(fmt=FORMATS[family], names=NAMES)  # type: ignore[index]
    first = reader.feed(PLAIN[:20])
    assert first == PLAIN[:20]  # not held back until the end
    assert first + reader.feed(PLAIN[20:]) + reader.finish()[0] == PLAIN
    assert reader.calls == []


@pytest.mark.parametrize("family", list(FORMATS))
def test_each_family_reads_back_the_calls_it_writes(family: str) -> None:
    fmt = FORMATS[family]  # type: ignore[index]
    calls = [
        {
            "id": "a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {
            "id": "b",
            "type": "function",
            "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'},
        },
    ]
    text = fmt.call_text(calls)
    parsed = fmt.parse(text, NAMES)
    assert parsed is not None and [(c.name, c.arguments) for c in parsed] == [PARIS, SUM]


@pytest.mark.parametrize(
    ("family", "tool_markup", "call_markup", "result_markup"),
    [
        (
            "hermes",
            "<tools>",
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
            "<tool_response>\n18°C\n</tool_response>",
        ),
        ("llama3", '"parameters"', '{"name": "get_weather", "parameters": {"city": "Paris"}}', "18°C"),
        (
            "mistral",
            "[AVAILABLE_TOOLS]",
            '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]',
            '[TOOL_RESULTS]{"content": "18°C"}[/TOOL_RESULTS]',
        ),
        ("glm4", "## get_weather", 'get_weather\n{"city": "Paris"}', "18°C"),
    ],
)
def test_each_family_s_prompt_without_a_template_of_its_own(
    family: str, tool_markup: str, call_markup: str, result_markup: str
) -> None:
    request = ToolRequest.model_validate({"tools": [WEATHER, CALCULATOR]})
    rendered = render_messages(CONVERSATION, request, FORMATS[family])  # type: ignore[index]
    assert [m["role"] for m in rendered] == ["system", "user", "assistant", "user"]
    assert tool_markup in rendered[0]["content"] and "get_weather" in rendered[0]["content"]
    assert rendered[2]["content"] == call_markup
    assert rendered[3]["content"] == result_markup


def test_forced_calls_are_held_whole_and_an_unreadable_one_shows_nothing() -> None:
    shown, calls, _ = read(
        "hermes", ['{"name": "get_weather", ', '"arguments": {"city": "Paris"}}'], forced=True
    )
    assert (shown, calls) == ("", [PARIS])
    shown, calls, reader = read("hermes", ['{"name": "get_weather", "argu'], forced=True)
    assert (shown, calls, reader.unreadable) == ("", [], True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4 <tool_response>made up</tool_response> done", "4  done"),
        ("Answer [TOOL_CALLS][{broken", "Answer "),
        ("It is 4.<|eot_id|>", "It is 4."),
        ("x <tool_call>{half", "x "),
        ("a < b and [TOOL] is fine", "a < b and [TOOL] is fine"),
        ('ok<|python_tag|>{"name": "x"}', "ok"),
    ],
)
def test_no_family_s_markup_survives_in_visible_text(text: str, expected: str) -> None:
    assert scrub_markup(text) == expected
    streamed = MarkupFilter()
    assert "".join(streamed.feed(ch) for ch in text) + streamed.finish() == expected


@pytest.mark.parametrize(
    ("template", "model", "expected"),
    [
        ("{{ '<tool_call>' }}{% for tool in tools %}", "", "hermes"),
        ("<|python_tag|>{{ tools }} ipython", "", "llama3"),
        ("[AVAILABLE_TOOLS]{{ tools }}[TOOL_CALLS]", "", "mistral"),
        ("<tool_call>{{ name }}<arg_key>", "", "glm4"),
        (None, "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "llama3"),
        (None, "mistral-small-24b", "mistral"),
        (None, "glm-4-9b-chat", "glm4"),
        (None, "qwen2.5-7b", "hermes"),
        (None, "smollm2", "hermes"),
    ],
)
def test_the_format_comes_from_the_template_else_the_model_s_name(
    template: str | None, model: str, expected: str
) -> None:
    assert detect_format(template, model) == expected


# A compact template written the way Qwen 2.5's is (the same variables, filters and turns).
QWEN_LIKE = (
    "{%- if tools %}<|im_start|>system\n"
    "{{ messages[0]['content'] if messages[0]['role'] == 'system' else 'You are helpful.' }}\n\n"
    "# Tools\n<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools><|im_end|>\n"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'user' %}\n<|im_start|>user\n{{ message.content }}<|im_end|>"
    "{%- elif message.role == 'assistant' %}\n<|im_start|>assistant\n{{ message.content }}"
    "{%- for tool_call in message.tool_calls or [] %}\n<tool_call>\n"
    '{"name": "{{ tool_call.function.name }}", '
    '"arguments": {{ tool_call.function.arguments | tojson }}}'
    "\n</tool_call>{%- endfor %}<|im_end|>"
    "{%- elif message.role == 'tool' %}\n<|im_start|>user\n"
    "<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{ '\\n<|im_start|>assistant\\n' }}{%- endif %}"
)


def test_the_model_s_own_template_writes_tools_calls_and_results() -> None:
    template = ChatTemplate(QWEN_LIKE)
    assert template.renders_tools
    prompt = template.render(CONVERSATION, [WEATHER])
    assert json.dumps(WEATHER, ensure_ascii=False) in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert "<tool_response>\n18°C\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    plain = ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert not plain.renders_tools  # SmolLM2's kind: tools go into the system message instead


def test_where_the_template_comes_from(tmp_path: Path) -> None:
    assert from_capabilities({"json_schema": True}) is None
    reported = from_capabilities({"chat_template": QWEN_LIKE, "bos_token": "", "eos_token": "<|im_end|>"})
    assert reported is not None and reported.eos_token == "<|im_end|>"
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "chat_template": [
                    {"name": "default", "template": "x"},
                    {"name": "tool_use", "template": QWEN_LIKE},
                ],
                "eos_token": {"content": "<|im_end|>"},
            }
        )
    )
    local = from_model_dir(str(tmp_path))
    assert local is not None and local.source == QWEN_LIKE and local.eos_token == "<|im_end|>"
    assert from_model_dir("Qwen/Qwen2.5-7B-Instruct") is None  # a hub name: nothing is downloaded


def test_settings_choose_the_format_over_detection(tmp_path: Path) -> None:
    detected = tool_profile("llama-3.1-8b", {"json_schema": True}, None)
    assert detected.format == "llama3" and detected.json_schema and detected.template is None
    forced = tool_profile("llama-3.1-8b", {}, ModelToolSettings(tool_call_format="hermes"))
    assert forced.format == "hermes"
    templated = tool_profile("any", {"chat_template": QWEN_LIKE}, None)
    assert templated.format == "hermes" and templated.template is not None
