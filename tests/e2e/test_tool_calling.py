"""A developer uses OpenAI tool calling on the bundled model, and the agent uses it too.

FastChat's API server alone drops ``tools``; ours serves them for every worker. On llama.cpp a
forced call (``tool_choice`` required or named) is decoded under the tool's JSON schema, so even
the 135M model writes a call whose arguments validate.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from openai import BadRequestError, OpenAI

from configs.settings import AgentSettings
from server.agent.toolbox import run_tool
from server.agent.tools.calculator import CalculatorTool
from server.launcher.harness import RunningStack
from tests.e2e.conftest import received_prompt, sse_events
from tests.support.tool_schemas import WEATHER_TOOL

pytestmark = pytest.mark.slow

CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


def client(stack: RunningStack) -> OpenAI:
    return OpenAI(base_url=f"{stack.urls.openai_api}/v1", api_key="none", max_retries=0, timeout=180)


def test_a_named_tool_choice_returns_a_call_whose_arguments_match_the_schema(stack: RunningStack) -> None:
    completion = client(stack).chat.completions.create(
        model="smollm2",
        messages=QUESTION,
        tools=[WEATHER_TOOL, CALCULATOR],
        temperature=0,
        max_tokens=64,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == {"city", "unit"}
    assert isinstance(arguments["city"], str) and arguments["unit"] in ("celsius", "fahrenheit")


def test_required_picks_one_of_the_tools_and_streaming_gives_the_same_call(stack: RunningStack) -> None:
    request = {
        "model": "smollm2",
        "messages": QUESTION,
        "tools": [WEATHER_TOOL, CALCULATOR],
        "tool_choice": "required",
        "temperature": 0,
        "max_tokens": 64,
    }
    whole = client(stack).chat.completions.create(**request).choices[0]
    assert whole.finish_reason == "tool_calls"
    [call] = whole.message.tool_calls
    schema = {"get_weather": WEATHER_TOOL, "calculator": CALCULATOR}[call.function.name]["function"][
        "parameters"
    ]
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == set(schema["required"]) and all(isinstance(v, str) for v in arguments.values())

    chunks = list(client(stack).chat.completions.create(**request, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or [])]
    assert [(c.index, c.function.name, c.function.arguments) for c in streamed] == [
        (0, call.function.name, call.function.arguments)
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_results_reach_the_model_as_tool_responses(stack: RunningStack) -> None:
    messages = [
        {"role": "user", "content": "What is 17 * 23?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": json.dumps({"expression": "17 * 23"})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "391"},
    ]
    completion = client(stack).chat.completions.create(
        model="smollm2", messages=messages, tools=[CALCULATOR], temperature=0, max_tokens=24
    )
    assert completion.choices[0].finish_reason in ("stop", "length", "tool_calls")
    # The prompt the worker was given holds the call and then its result.
    prompt = received_prompt(stack, "<tool_response>\n391\n</tool_response>")
    call = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "17 * 23"}}\n</tool_call>'
    assert call in prompt
    assert prompt.index(call) < prompt.index("<tool_response>\n391\n</tool_response>")


def test_bad_tool_requests_are_refused_with_the_reason(stack: RunningStack) -> None:
    openai = client(stack)
    with pytest.raises(BadRequestError, match="'nope', which is not among tools: calculator"):
        openai.chat.completions.create(
            model="smollm2",
            messages=QUESTION,
            tools=[CALCULATOR],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    bad_name = {"type": "function", "function": {"name": "rm -rf /", "parameters": {"type": "object"}}}
    with pytest.raises(BadRequestError, match="must be 1-64 letters"):
        openai.chat.completions.create(model="smollm2", messages=QUESTION, tools=[bad_name])
    with pytest.raises(BadRequestError, match="n must be 1 when tools are used"):
        openai.chat.completions.create(model="smollm2", messages=QUESTION, tools=[CALCULATOR], n=2)


# ---- the agent on native tool calls ------------------------------------------------------------


def agent_events(stack: RunningStack, body: dict) -> list[dict]:
    with httpx.stream("POST", f"{stack.urls.api}/chat/agent_chat", json=body, timeout=300) as response:
        assert response.status_code == 200, response.read()
        return sse_events(response.iter_lines())


def test_the_agent_calls_the_chosen_tool_natively_and_ends_with_a_final_answer(stack: RunningStack) -> None:
    events = agent_events(
        stack,
        {
            "query": "Calculate 12 * 7",
            "stream": True,
            "temperature": 0,
            "max_tokens": 48,
            "tool_calling": "native",
            "tool_choice": "calculator",
        },
    )
    steps = [e["step"] for e in events if "tools" in e]
    assert steps and steps[0]["index"] == 1 and steps[0]["tool"] == "calculator"
    assert steps[0]["input"].strip()  # the schema made the model write an expression (maybe not a good one)
    # What the step reports is what the calculator gives for that input: its result, or its refusal.
    calculator = CalculatorTool()
    expected = asyncio.run(
        run_tool(calculator, {calculator.argument: steps[0]["input"]}, AgentSettings().observation_max_chars)
    )
    assert (steps[0]["output"], steps[0]["ok"]) == expected
    assert len(steps) <= 5 and [s["index"] for s in steps] == list(range(1, len(steps) + 1))
    assert set(events[-1]) == {"final_answer"} and events[-1]["final_answer"].strip()
    assert "message_id" in events[0]  # the stored run, for feedback
    assert all(set(e) - {"message_id"} in ({"tools", "step"}, {"answer"}) for e in events[:-1]), events


def test_the_agent_searches_the_knowledge_bases_with_its_tool(stack: RunningStack) -> None:
    events = agent_events(
        stack,
        {
            "query": "What is in my knowledge base?",
            "stream": True,
            "temperature": 0,
            "max_tokens": 32,
            "tool_calling": "native",
            "tool_choice": "knowledge_base_search",
        },
    )
    first = next(e["step"] for e in events if "tools" in e)
    assert first["tool"] == "knowledge_base_search" and first["ok"]
    assert first["output"].startswith("[1] samples/")  # a passage of the KB created on first start


def test_an_unknown_tool_choice_is_refused_naming_the_tools(stack: RunningStack) -> None:
    response = httpx.post(
        f"{stack.urls.api}/chat/agent_chat", timeout=30, json={"query": "hi", "tool_choice": "teleport"}
    )
    assert response.status_code == 400
    assert response.json()["msg"].startswith(
        "tool_choice 'teleport' is not an available tool; tools: calculator, "
    )
