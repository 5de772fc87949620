"""A model's own chat template, for prompts with tools.

FastChat's conversation templates know nothing of tools; the chat template a model ships (GGUF
``tokenizer.chat_template``, ``chat_template`` in a Hugging Face ``tokenizer_config.json`` or a
``chat_template.jinja``) writes the tools, the calls and the results exactly as the model was
trained on them. Rendering goes through transformers' own ``render_jinja_template`` (what
``apply_chat_template(tools=...)`` uses), so templates behave here as they do there.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_TOOLS_VARIABLE = re.compile(r"\btools\b")


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    bos_token: str = ""  # "" when the worker adds BOS itself
    eos_token: str = ""

    @property
    def renders_tools(self) -> bool:
        """Whether the template itself writes ``tools`` (a tool-use template) or ignores them."""
        return bool(_TOOLS_VARIABLE.search(self.source))

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        """The prompt for ``messages`` (OpenAI form, tool calls and results included), ready to generate."""
        from transformers.utils.chat_template_utils import render_jinja_template

        rendered, _ = render_jinja_template(
            [[_template_message(m) for m in messages]],
            tools=tools or None,
            chat_template=self.source,
            add_generation_prompt=True,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )
        return rendered[0]


def _template_message(message: dict[str, Any]) -> dict[str, Any]:
    """HF templates read call arguments as objects (``| tojson``) and content as a string."""
    out = dict(message)
    if out.get("content") is None:
        out["content"] = ""
    if out.get("tool_calls"):
        calls = []
        for call in out["tool_calls"]:
            function = dict(call.get("function") or {})
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                try:
                    function["arguments"] = json.loads(arguments) if arguments.strip() else {}
                except ValueError:
                    pass
            calls.append({**call, "function": function, "name": function.get("name", "")})
        out["tool_calls"] = calls
    return out


def from_capabilities(capabilities: dict[str, Any]) -> ChatTemplate | None:
    """The template a worker reported (the llama.cpp worker reads it from the GGUF file)."""
    source = capabilities.get("chat_template")
    if not isinstance(source, str) or not source.strip():
        return None
    return ChatTemplate(
        source,
        bos_token=str(capabilities.get("bos_token") or ""),
        eos_token=str(capabilities.get("eos_token") or ""),
    )


def from_model_dir(path: str | None) -> ChatTemplate | None:
    """The template in a local Hugging Face model directory, if there is one (nothing is downloaded)."""
    if not path:
        return None
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return None
    jinja = folder / "chat_template.jinja"
    config: dict[str, Any] = {}
    try:
        config_file = folder / "tokenizer_config.json"
        if config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
        source = jinja.read_text(encoding="utf-8") if jinja.is_file() else config.get("chat_template")
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the chat template in %s: %s", folder, exc)
        return None
    if isinstance(source, list):  # named templates: the default one, or the one for tools
        named = {t.get("name"): t.get("template") for t in source if isinstance(t, dict)}
        source = named.get("tool_use") or named.get("default")
    if not isinstance(source, str) or not source.strip():
        return None

    def token(key: str) -> str:
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return value if isinstance(value, str) else ""

    return ChatTemplate(source, bos_token=token("bos_token"), eos_token=token("eos_token"))


def gguf_capabilities(llm: Any, adds_bos: bool) -> dict[str, Any]:
    """What a llama.cpp model's GGUF says about its chat template, for ``/worker_get_capabilities``."""
    metadata = getattr(llm, "metadata", None) or {}
    source = metadata.get("tokenizer.chat_template")
    if not source:
        return {}

    def text(token_id: int) -> str:
        if token_id < 0:
            return ""
        try:
            return llm.detokenize([token_id], special=True).decode("utf-8", errors="replace")
        except Exception:  # a vocabulary without that token
            return ""

    return {
        "chat_template": source,
        "bos_token": "" if adds_bos else text(llm.token_bos()),
        "eos_token": text(llm.token_eos()),
    }
