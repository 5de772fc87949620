"""The one check every JSON request body passes before any route sees it.

Pydantic validates shapes, but some inputs are well-formed JSON and still poison everything after
them: a lone UTF-16 surrogate (``"\\ud800"``) cannot be encoded to UTF-8, so it fails later in the
database, the embedder or the response; a megabyte ``query`` burns seconds of CPU; a deeply nested
body exhausts the parser's recursion; ``1e400`` and 5,000-digit integers are not numbers anything
downstream can use. Checking them here, once, means no route can forget to, and the 422 names the
field. Multipart text that holds JSON (``docs`` of upload_docs) goes through :func:`check_json_value`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from configs.settings import RequestLimitSettings

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_INT_LIMIT = 2**63
_PARSE_IN_THREAD = 256 * 1024  # bodies larger than this are parsed off the event loop


class BadBody(ValueError):
    """What is wrong with a body; ``field`` is its dotted path (``history.0.content``) or ``body``."""

    def __init__(self, field: str, message: str, kind: str = "value_error") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.kind = kind


def _printable(text: str) -> str:
    """A name fit for an error message: a surrogate in it is shown as its escape, not sent raw."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _field(path: tuple[str | int, ...]) -> str:
    return ".".join(_printable(str(p)) for p in path) or "body"


def _number_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _number_int(text: str) -> int:
    value = int(text)  # Python refuses more than 4,300 digits itself (a ValueError)
    if not -_INT_LIMIT <= value < _INT_LIMIT:
        raise ValueError(f"the integer {text[:40]}{'...' if len(text) > 40 else ''} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(raw: bytes | str) -> Any:
    """``raw`` as JSON, or BadBody: invalid JSON, not UTF-8, non-finite or out-of-range numbers, too deep."""
    try:
        return json.loads(raw, parse_float=_number_float, parse_int=_number_int, parse_constant=_no_constant)
    except RecursionError:
        raise BadBody("body", "the JSON is nested too deeply", "json_invalid") from None
    except UnicodeDecodeError:
        raise BadBody("body", "the body is not UTF-8 text", "json_invalid") from None
    except json.JSONDecodeError as exc:
        raise BadBody("body", f"invalid JSON: {exc.msg} at position {exc.pos}", "json_invalid") from None
    except BadBody:
        raise
    except ValueError as exc:  # from the number hooks, or Python's own digit limit
        raise BadBody("body", f"invalid number: {exc}", "json_invalid") from None


def _check_text(text: str, path: tuple[str | int, ...], limits: RequestLimitSettings) -> None:
    if bad := _SURROGATE.search(text):
        raise BadBody(
            _field(path),
            f"contains a lone UTF-16 surrogate (U+{ord(bad.group()):04X} at character {bad.start()}), "
            "which is not valid Unicode text",
            "string_unicode",
        )
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    if key == "query":
        limit, setting = limits.max_query_chars, "limits.max_query_chars"
    else:
        limit, setting = limits.max_text_chars, "limits.max_text_chars"
    if len(text) > limit:
        raise BadBody(
            _field(path),
            f"is {len(text)} characters long; at most {limit} are allowed ({setting})",
            "string_too_long",
        )


def check_json_value(value: Any, limits: RequestLimitSettings, path: tuple[str | int, ...] = ()) -> None:
    """Every string (keys too) encodable and within its length, and the nesting within the depth."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if len(where) - len(path) > limits.max_json_depth:
            raise BadBody(
                _field(where[: len(path) + limits.max_json_depth]),
                f"is nested more than {limits.max_json_depth} levels deep (limits.max_json_depth)",
            )
        if isinstance(item, str):
            _check_text(item, where, limits)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, (*where, key), limits)
                stack.append((child, (*where, key)))
        elif isinstance(item, list):
            stack.extend((child, (*where, i)) for i, child in enumerate(item))


def check_json_body(raw: bytes, limits: RequestLimitSettings) -> None:
    check_json_value(parse_json(raw), limits)


def _is_json(headers: Headers) -> bool:
    """FastAPI parses a body as JSON when it says so, and also when it names no type at all."""
    content_type = headers.get("content-type")
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JsonBodyCheckMiddleware:
    """Reads a JSON body (up to ``limits.max_json_mb``), checks it, and replays it to the app."""

    def __init__(self, app: ASGIApp, limits: RequestLimitSettings) -> None:
        self.app = app
        self.limits = limits
        self.max_bytes = int(limits.max_json_mb * 1024 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if not _is_json(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before it finished sending
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(
                    send,
                    413,
                    f"the request body is larger than {self.limits.max_json_mb:g} MB (limits.max_json_mb)",
                    [],
                )
                return
            if not message.get("more_body", False):
                break
        raw = bytes(body)
        try:
            if len(raw) > _PARSE_IN_THREAD:
                await asyncio.to_thread(check_json_body, raw, self.limits)
            elif raw.strip():
                check_json_body(raw, self.limits)
        except BadBody as exc:
            loc = ["body", *exc.field.split(".")] if exc.field != "body" else ["body"]
            await self._refuse(send, 422, str(exc), [{"loc": loc, "msg": exc.message, "type": exc.kind}])
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, status: int, message: str, detail: list[dict[str, Any]]) -> None:
        """Chatchat's envelope, as the app's own validation errors answer."""
        payload = json.dumps(
            {"code": status, "msg": message, "data": None, "detail": detail}, ensure_ascii=False
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
