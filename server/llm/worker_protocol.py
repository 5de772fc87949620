"""FastChat's worker wire format, shared by every worker we serve (llama.cpp, remote OpenAI).

A request is FastChat's generation params dict; the answer is a stream of cumulative JSON frames,
each NUL-terminated, with ``error_code`` 0 or one of FastChat's error codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastchat.constants import SERVER_ERROR_MSG, ErrorCode


@dataclass
class GenerationParams:
    """The FastChat worker request, validated and with FastChat's defaults."""

    prompt: str
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_new_tokens: int = 256
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    echo: bool = True
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    json_schema: dict[str, Any] | None = None  # decoding is constrained to JSON matching it

    @classmethod
    def from_request(cls, params: dict[str, Any]) -> GenerationParams:
        stop = params.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]

        def number(key: str, default: float) -> float:
            value = params.get(key)
            return default if value is None else float(value)

        return cls(
            prompt=str(params["prompt"]),
            temperature=number("temperature", 1.0),
            top_p=number("top_p", 1.0),
            top_k=int(number("top_k", -1)),
            max_new_tokens=int(number("max_new_tokens", 256)),
            stop=[s for s in stop if s],
            stop_token_ids=[int(t) for t in params.get("stop_token_ids") or []],
            echo=bool(params.get("echo", True)),
            repetition_penalty=number("repetition_penalty", 1.0),
            presence_penalty=number("presence_penalty", 0.0),
            frequency_penalty=number("frequency_penalty", 0.0),
            seed=params.get("seed"),
            json_schema=params.get("json_schema") if isinstance(params.get("json_schema"), dict) else None,
        )


def error_frame(message: str, code: int = ErrorCode.INTERNAL_ERROR) -> dict[str, Any]:
    return {"text": f"{SERVER_ERROR_MSG}\n\n({message})", "error_code": int(code)}


def encode_frame(frame: dict[str, Any]) -> bytes:
    """FastChat's wire format: one JSON object per frame, NUL-terminated."""
    return json.dumps(frame, ensure_ascii=False).encode() + b"\0"
