"""Unit conversion with pint (its own expression parser; nothing is evaluated as Python)."""

from __future__ import annotations

import asyncio
import re
from functools import cache

import pint

from server.agent.tools.base import TextTool, ToolError
from server.agent.tools.calculator import format_number

MAX_INPUT_CHARS = 120
_REQUEST = re.compile(
    r"^\s*(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)?\s*(?P<source>.+?)\s+"
    r"(?:to|in|into|as|->|=>)\s+(?P<target>.+?)\s*$",
    re.IGNORECASE,
)


@cache
def _registry() -> pint.UnitRegistry:
    return pint.UnitRegistry()


def convert(request: str) -> str:
    text = request.strip().strip("`'\"").strip()
    if len(text) > MAX_INPUT_CHARS:
        raise ToolError(f"the request is longer than {MAX_INPUT_CHARS} characters")
    match = _REQUEST.match(text)
    if not match:
        raise ToolError("write it as '<number> <unit> to <unit>', e.g. '10 km to miles'")
    value = float(match["value"]) if match["value"] else 1.0
    registry = _registry()
    try:
        quantity = registry.Quantity(value, match["source"]).to(match["target"])
    except pint.UndefinedUnitError as exc:
        raise ToolError(f"unknown unit: {exc}") from exc
    except pint.DimensionalityError as exc:
        raise ToolError(f"cannot convert: {exc}") from exc
    except (pint.PintError, AssertionError, ValueError, TypeError, SyntaxError) as exc:
        raise ToolError(
            "could not read the units; write e.g. '10 km to miles' or '100 degC to degF'"
        ) from exc
    magnitude = float(quantity.magnitude)
    result = format_number(round(magnitude, 10))
    return f"{format_number(value)} {match['source']} = {result} {quantity.units:~P}"


class UnitConversionTool(TextTool):
    name = "unit_conversion"
    description = "Convert a quantity between units, e.g. '10 km to miles' or '100 degC to degF'."
    argument, argument_required = "request", True

    async def run(self, tool_input: str) -> str:
        return await asyncio.to_thread(convert, tool_input)
