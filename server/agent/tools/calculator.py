"""Arithmetic for the model, by walking the expression's syntax tree (never ``eval``).

Only numbers, + - * / // % **, parentheses, a few math functions and constants are
accepted; names, attributes, strings, subscripts and any other call are refused, and results
are kept to a size that cannot exhaust memory or CPU.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from server.agent.tools.base import TextTool, ToolError

MAX_INPUT_CHARS = 300
MAX_INT_BITS = 4096
MAX_FACTORIAL = 500

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _factorial(n: float) -> int:
    if n != int(n) or n < 0:
        raise ToolError("factorial needs a non-negative whole number")
    if n > MAX_FACTORIAL:
        raise ToolError(f"factorial is limited to n <= {MAX_FACTORIAL}")
    return math.factorial(int(n))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "degrees": math.degrees,
    "radians": math.radians,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": _factorial,
}


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError("the result is too large")
    if isinstance(value, float) and math.isinf(value):
        raise ToolError("the result is too large")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if abs(base) > 1 and abs(base).bit_length() * exponent > MAX_INT_BITS * 2:
            raise ToolError("the exponent is too large")
    elif abs(exponent) > 10_000:
        raise ToolError("the exponent is too large")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolError("the result is not a real number")
    return result


class _Evaluator:
    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Constant):
            if type(node.value) in (int, float):
                return node.value
            raise ToolError(f"only numbers are allowed, not {node.value!r}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.visit(node.left), self.visit(node.right)
            if isinstance(node.op, ast.Pow):
                return _check_size(_power(left, right))
            return _check_size(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.visit(node.operand))
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise ToolError(f"unknown name {node.id!r}; allowed constants: {', '.join(_CONSTANTS)}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                raise ToolError(f"only these functions are allowed: {', '.join(_FUNCTIONS)}")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise ToolError("functions take plain positional arguments only")
            return _check_size(_FUNCTIONS[node.func.id](*(self.visit(a) for a in node.args)))
        raise ToolError(f"not arithmetic: {type(node).__name__} is not allowed")


def _normalise(expression: str) -> str:
    """Forms small models write: ``2^3``, ``3 × 4``, ``10 ÷ 2``, ``1,000``, a trailing ``=``, backticks."""
    text = expression.strip()
    while True:
        stripped = text.rstrip("=").strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "`'\"":
            stripped = stripped[1:-1].strip()
        if stripped == text:
            break
        text = stripped
    text = text.replace("^", "**").replace("×", "*").replace("÷", "/").replace("−", "-")
    return _THOUSANDS.sub("", text)


def evaluate(expression: str) -> int | float:
    text = _normalise(expression)
    if not text:
        raise ToolError("give an arithmetic expression, e.g. (3 + 4) * 2")
    if len(text) > MAX_INPUT_CHARS:
        raise ToolError(f"the expression is longer than {MAX_INPUT_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"not an arithmetic expression: {exc.msg}") from exc
    try:
        return _Evaluator().visit(tree)
    except ZeroDivisionError as exc:
        raise ToolError("division by zero") from exc
    except (OverflowError, MemoryError) as exc:
        raise ToolError("the result is too large") from exc
    except (ValueError, TypeError) as exc:
        raise ToolError(f"math error: {exc}") from exc
    except RecursionError as exc:
        raise ToolError("the expression is nested too deeply") from exc


def format_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}" if isinstance(value, float) else str(value)


class CalculatorTool(TextTool):
    name = "calculator"
    description = "Evaluate an arithmetic expression, e.g. (3 + 4) * 2 or sqrt(16). Input: the expression."
    argument, argument_required = "expression", True

    async def run(self, tool_input: str) -> str:
        return format_number(evaluate(tool_input))
