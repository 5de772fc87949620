"""Each agent tool on its own: useful answers for good input, a clear refusal for anything else."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from configs.settings import AgentSettings, SearchSettings
from server.agent.toolbox import build_toolbox
from server.agent.tools.base import ToolError
from server.agent.tools.calculator import CalculatorTool
from server.agent.tools.clock import DateTimeTool
from server.agent.tools.shell import ShellTool
from server.agent.tools.units import UnitConversionTool
from server.agent.tools.web_search import WebSearchTool
from server.launcher.harness import free_port
from server.search import SearchEngines
from tests.search_fakes import FakeInternet, fake_internet


def run(tool, text: str) -> str:
    return asyncio.run(tool.run(text))


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("2 + 2", "4"),
        ("17 * 23", "391"),
        ("(3 + 4) * 2", "14"),
        ("2^10", "1024"),
        ("10 / 4", "2.5"),
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("sqrt(16) + abs(-3)", "7"),
        ("round(pi, 4)", "3.1416"),
        ("3 × 4 ÷ 2", "6"),
        ("1,000 + 1", "1001"),
        ("`12*12` =", "144"),
        ("factorial(10)", "3628800"),
        ("2 ** -2", "0.25"),
        ("max(3, 9, 4)", "9"),
    ],
)
def test_calculator_evaluates_arithmetic(expression: str, expected: str) -> None:
    assert run(CalculatorTool(), expression) == expected


@pytest.mark.parametrize(
    "expression, message",
    [
        ("__import__('os')", "only these functions are allowed"),
        ("__import__('os').system('id')", "only these functions are allowed"),
        ("(1).__class__", "not arithmetic: Attribute"),
        ("math.pi", "not arithmetic: Attribute"),
        ("open('/etc/passwd')", "only these functions are allowed"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers are allowed"),
        ("[1, 2][0]", "not arithmetic: Subscript"),
        ("lambda: 1", "not arithmetic: Lambda"),
        ("(x := 3)", "not arithmetic: NamedExpr"),
        ("1 if 1 else 2", "not arithmetic: IfExp"),
        ("1 < 2", "not arithmetic: Compare"),
        ("True + 1", "only numbers are allowed"),
        ("sqrt(x=4)", "positional arguments only"),
        ("9 ** 9 ** 9", "the exponent is too large"),
        ("10 ** 100000", "the exponent is too large"),
        ("2.0 ** 5000", "the result is too large"),
        ("factorial(100000)", "factorial is limited"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "math error"),
        ("(-8) ** 0.5", "not a real number"),
        ("2 +", "not an arithmetic expression"),
        ("", "give an arithmetic expression"),
        ("1+" * 200 + "1", "longer than"),
    ],
)
def test_calculator_refuses_anything_that_is_not_safe_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=re.escape(message)):
        run(CalculatorTool(), expression)


def test_calculator_gives_up_on_huge_products_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(ToolError, match="too large"):
        run(CalculatorTool(), "(2**8000) * (2**8000) * (2**8000)")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "request_text, expected",
    [
        ("10 km to miles", "10 km = 6.2137119224 mi"),
        ("100 degC to degF", "100 degC = 212 °F"),
        ("5 kg in lb", "5 kg = 11.0231131092 lb"),
        ("1.5 hours to minutes", "1.5 hours = 90 min"),
        ("m to ft", "1 m = 3.280839895 ft"),
    ],
)
def test_unit_conversion_converts(request_text: str, expected: str) -> None:
    assert run(UnitConversionTool(), request_text) == expected


@pytest.mark.parametrize(
    "request_text, message",
    [
        ("10 km to seconds", "cannot convert"),
        ("3 florps to miles", "unknown unit"),
        ("how far is the moon", "write it as"),
        ("1 __import__('os') to m", "could not read the units"),
        ("1 m to " + "m*" * 100 + "m", "longer than"),
    ],
)
def test_unit_conversion_explains_what_it_cannot_do(request_text: str, message: str) -> None:
    with pytest.raises(ToolError, match=re.escape(message)):
        run(UnitConversionTool(), request_text)


def test_datetime_tells_the_current_time_in_a_zone_or_the_servers() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    utc_line = run(DateTimeTool(), "")
    after = datetime.now(UTC)
    told = re.search(r"UTC (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$", utc_line)
    assert told and "server time" in utc_line, utc_line
    assert before <= datetime.strptime(told[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) <= after
    tokyo = run(DateTimeTool(), "Asia/Tokyo")
    assert "(Asia/Tokyo)" in tokyo and "JST" in tokyo
    assert "server time" in run(DateTimeTool(), "Mars/Olympus")  # an unknown zone falls back, never fails


@pytest.fixture(scope="module")
def internet() -> Iterator[FakeInternet]:
    with fake_internet() as running:
        yield running


def test_web_search_tool_lists_results_from_the_default_engine(internet: FakeInternet) -> None:
    async def search(text: str) -> str:
        engines = SearchEngines(
            SearchSettings(searxng={"base_url": internet.url}, duckduckgo={"enabled": False})
        )
        try:
            return await WebSearchTool(engines, top_k=2).run(text)
        finally:
            await engines.aclose()

    results = internet.searxng_results("tidal power")
    lines = asyncio.run(search('"tidal power"')).splitlines()
    assert lines == [
        f"[{n}] {r['title']} ({r['url']}): {r['content']}" for n, r in enumerate(results[:2], start=1)
    ]


def test_web_search_tool_reports_an_engine_that_is_down(internet: FakeInternet) -> None:
    async def search() -> str:
        engines = SearchEngines(
            SearchSettings(
                searxng={"base_url": f"http://127.0.0.1:{free_port()}"},
                timeout=2,
                duckduckgo={"enabled": False},
            )
        )
        try:
            return await WebSearchTool(engines, top_k=2).run("anything")
        finally:
            await engines.aclose()

    with pytest.raises(ToolError, match="search engine 'searxng' is unreachable"):
        asyncio.run(search())


def test_shell_is_off_unless_enabled_and_then_runs_one_command_with_a_timeout() -> None:
    assert "shell" not in build_toolbox(AgentSettings(), None, None).names
    assert build_toolbox(AgentSettings(shell_enabled=True), None, None).names[-1] == "shell"
    shell = ShellTool(timeout=0.5)
    assert (
        run(shell, "echo hello; rm -rf /nothing") == "exit code 0\nhello; rm -rf /nothing"
    )  # no shell syntax
    started = time.monotonic()
    with pytest.raises(ToolError, match="longer than 0.5 s"):
        run(shell, "sleep 5")
    assert time.monotonic() - started < 2
    with pytest.raises(ToolError, match="cannot run 'no-such-command-x'"):
        run(shell, "no-such-command-x")


def test_the_toolbox_offers_what_is_configured_and_finds_tools_by_loose_names(internet: FakeInternet) -> None:
    engines = SearchEngines(SearchSettings(searxng={"base_url": internet.url}))
    toolbox = build_toolbox(AgentSettings(), engines, None)
    asyncio.run(engines.aclose())
    assert toolbox.names == ["calculator", "current_datetime", "unit_conversion", "web_search"]
    assert toolbox.find("Web Search") is toolbox.tools["web_search"]
    assert toolbox.find(" unit-conversion ") is toolbox.tools["unit_conversion"]
    assert toolbox.find("weather") is None
    assert "calculator: Evaluate an arithmetic expression" in toolbox.describe()
    no_engines = SearchEngines(SearchSettings(searxng={"base_url": None}, duckduckgo={"enabled": False}))
    assert "web_search" not in build_toolbox(AgentSettings(), no_engines, None).names
    asyncio.run(no_engines.aclose())


def test_the_toolbox_as_openai_functions_each_with_its_one_argument() -> None:
    toolbox = build_toolbox(AgentSettings(), None, None)
    functions = {f["function"]["name"]: f["function"] for f in toolbox.functions()}
    assert list(functions) == ["calculator", "current_datetime", "unit_conversion"]
    assert functions["calculator"]["parameters"] == {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    }
    assert functions["current_datetime"]["parameters"]["required"] == []  # the zone may be left out


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"expression": "2 + 2"}', "2 + 2"),
        ('{"expr": "2 + 2"}', "2 + 2"),  # one misnamed argument is still the argument
        ('{"expression": 4}', "4"),
        ("", ToolError("missing argument 'expression'")),
        ('{"a": "1", "b": "2"}', ToolError("missing argument 'expression'")),
        ("[1, 2]", ToolError("must be a JSON object")),
        ("{oops", ToolError("not valid JSON")),
    ],
)
def test_a_calls_arguments_become_the_tools_input(arguments: str, expected: str | ToolError) -> None:
    from server.agent.toolbox import call_input

    if isinstance(expected, ToolError):
        with pytest.raises(ToolError, match=re.escape(str(expected))):
            call_input(CalculatorTool(), arguments)
    else:
        assert call_input(CalculatorTool(), arguments) == expected
    assert call_input(DateTimeTool(), "{}") == ""  # an optional argument may be absent
