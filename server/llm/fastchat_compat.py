"""Everything we change in FastChat 0.2.36 at run time, in one place, without editing its files.

FastChat 0.2.36 predates transformers 5 and pydantic 2. Each fix below is a small function,
applied by the ``prepare_*`` entry points before a FastChat server module is imported, and
covered by a test that fails without it:

* ``route_logging``: FastChat's ``build_logger`` redirects ``sys.stdout``/``sys.stderr`` and
  writes its own log files at import time; we hand out plain loggers under ``fastchat.*`` so
  the shared logging configuration applies.
* ``fix_context_length``: ``get_context_length`` reads ``rope_scaling["factor"]``; with
  transformers 5 ``rope_scaling`` aliases ``rope_parameters`` and has no ``factor`` → KeyError.
* ``fix_pydantic_json``: the API server streams with ``.json(exclude_unset=True,
  ensure_ascii=False)``; pydantic 2 rejects the kwargs and the stream dies mid-way.
* ``fix_tokenizer_batch_encode``: transformers 5 removed ``batch_encode_plus`` (embeddings path).
* ``fix_embedding_attention_mask``: BERT-style embeddings were computed without the attention
  mask, so padded members of a batch drift.
* ``register_smollm2_template`` / ``register_model_adapters``: SmolLM2 speaks ChatML; FastChat
  falls back to the Vicuna-style ``one_shot`` template, which is wrong for it. Sentence-
  transformers directories need ``AutoModel`` rather than a causal-LM head.
* ``tool_api.install``: the API server drops OpenAI's ``tools``; a route in front of its chat
  completions serves them (``server/llm/tool_api.py``).
* ``pool_api_server_connections``: not a breakage but a cost: the API server opens a new HTTP
  connection for each of the five internal calls a chat request makes; one pooled client
  keeps time-to-first-token low.
* ``failover``: dead workers linger in the controller for minutes and a request sent to one just
  fails; heartbeats, expiry, dispatch and retries are patched in ``server/llm/failover.py``.

transformers' generate loop in FastChat passes ``past_key_values``, removed in transformers
5.40: that one is handled by the pin ``transformers<5.40`` in ``pyproject.toml``.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import AsyncIterator
from typing import Any

SMOLLM2_TEMPLATE_NAME = "smollm2"
SMOLLM2_SYSTEM_MESSAGE = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

_applied: set[str] = set()


def _once(name: str) -> bool:
    """True the first time a fix is applied in this process."""
    if name in _applied:
        return False
    _applied.add(name)
    return True


# ---------------------------------------------------------------------------------------------
# Logging


def _plain_logger(logger_name: str, logger_filename: str | None = None) -> logging.Logger:
    """Replacement for ``fastchat.utils.build_logger``: no stdout redirection, no files of its own."""
    return logging.getLogger(f"fastchat.{logger_name}")


def route_logging() -> None:
    """Run before ``fastchat.serve`` modules build their loggers (most do at import).

    Modules imported earlier keep their own reference to ``build_logger``; those are patched
    too, which covers the ones that build lazily (``base_model_worker`` does, per worker).
    """
    import sys

    import fastchat.utils

    fastchat.utils.build_logger = _plain_logger
    for name, module in list(sys.modules.items()):
        if name.startswith("fastchat.") and getattr(module, "build_logger", None) is not None:
            vars(module)["build_logger"] = _plain_logger


# ---------------------------------------------------------------------------------------------
# transformers 5


def get_context_length(config: Any) -> int:
    """FastChat's ``get_context_length`` for configs whose ``rope_scaling`` may lack ``factor``."""
    from fastchat.utils import SEQUENCE_LENGTH_KEYS

    rope_scaling = getattr(config, "rope_scaling", None)
    factor = 1.0
    if isinstance(rope_scaling, dict) and rope_scaling.get("factor"):
        factor = float(rope_scaling["factor"])
    for key in SEQUENCE_LENGTH_KEYS:
        value = getattr(config, key, None)
        if value is not None:
            return int(factor * value)
    return 2048


def fix_context_length() -> None:
    import sys

    import fastchat.utils

    fastchat.utils.get_context_length = get_context_length
    # Modules that imported the name before the fix keep their own reference.
    for module_name in ("fastchat.serve.model_worker", "fastchat.serve.multi_model_worker"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "get_context_length"):
            vars(module)["get_context_length"] = get_context_length


def batch_encode_plus(self: Any, batch_text_or_text_pairs: list[Any], **kwargs: Any) -> Any:
    """transformers 4's ``batch_encode_plus``: the batched ``__call__``."""
    return self(batch_text_or_text_pairs, **kwargs)


def fix_tokenizer_batch_encode() -> None:
    from transformers import PreTrainedTokenizerBase

    if not hasattr(PreTrainedTokenizerBase, "batch_encode_plus"):
        PreTrainedTokenizerBase.batch_encode_plus = batch_encode_plus


def fix_embedding_attention_mask() -> None:
    """Pass the attention mask to BERT-style encoders so padding does not leak into embeddings."""
    if not _once("embedding_attention_mask"):
        return
    import torch
    from fastchat.serve.model_worker import ModelWorker

    original = ModelWorker._ModelWorker__process_embed_chunk

    def process_embed_chunk(self: Any, input_ids: Any, attention_mask: Any, **model_type: Any) -> Any:
        if not model_type.get("is_bert"):
            return original(self, input_ids, attention_mask, **model_type)
        output = self.model(input_ids, attention_mask=attention_mask.long())
        data = output.last_hidden_state if model_type.get("is_robert") else output[0]
        if getattr(self.model, "use_cls_pooling", False):
            summed = data[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).expand(data.size()).to(data.dtype)
            summed = torch.sum(data * mask, dim=1)
        return summed, torch.sum(attention_mask).item()

    ModelWorker._ModelWorker__process_embed_chunk = process_embed_chunk


# ---------------------------------------------------------------------------------------------
# pydantic 2


def _json_compat(self: Any, *, ensure_ascii: bool = False, **kwargs: Any) -> str:
    """pydantic-1 style ``.json()``; ``model_dump_json`` never escapes non-ASCII text."""
    return self.model_dump_json(**kwargs)


def fix_pydantic_json() -> None:
    import fastchat.protocol.api_protocol as api_protocol
    import fastchat.protocol.openai_api_protocol as openai_protocol
    from pydantic import BaseModel

    for module in (openai_protocol, api_protocol):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
            ):
                value.json = _json_compat  # type: ignore[method-assign]  # the point of this fix


# ---------------------------------------------------------------------------------------------
# Conversation templates and model adapters


def smollm2_conversation() -> Any:
    """ChatML exactly as SmolLM2's own chat template renders it (system message included)."""
    from fastchat.conversation import Conversation, SeparatorStyle

    return Conversation(
        name=SMOLLM2_TEMPLATE_NAME,
        system_template="<|im_start|>system\n{system_message}",
        system_message=SMOLLM2_SYSTEM_MESSAGE,
        roles=("<|im_start|>user", "<|im_start|>assistant"),
        sep_style=SeparatorStyle.CHATML,
        sep="<|im_end|>",
        stop_token_ids=[2, 0],  # <|im_end|>, <|endoftext|>
        stop_str="<|im_end|>",
    )


def register_smollm2_template() -> None:
    from fastchat.conversation import register_conv_template

    register_conv_template(smollm2_conversation(), override=True)


def is_smollm(model_path: str) -> bool:
    return (
        "smollm" in os.path.basename(os.path.normpath(model_path)).lower() or "smollm" in model_path.lower()
    )


def register_model_adapters() -> None:
    """Adapters for SmolLM2 (GGUF or HF directory) and sentence-transformers embedding models.

    They go to the front of FastChat's adapter list: stock adapters match substrings of the
    whole path (site-packages paths contain plenty of them).
    """
    if not _once("model_adapters"):
        return
    from fastchat.conversation import get_conv_template
    from fastchat.model import model_adapter
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    def _dtype_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(kwargs)
        if "torch_dtype" in kwargs:
            kwargs["dtype"] = kwargs.pop("torch_dtype")
        kwargs.pop("revision", None)
        return kwargs

    class SmolLM2Adapter(model_adapter.BaseModelAdapter):
        """SmolLM2 from an HF directory or straight from its GGUF file."""

        def match(self, model_path: str) -> bool:
            return is_smollm(model_path)

        def load_model(self, model_path: str, from_pretrained_kwargs: dict) -> Any:
            kwargs = _dtype_kwargs(from_pretrained_kwargs)
            if model_path.endswith(".gguf"):
                directory, filename = os.path.split(model_path)
                tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=filename)
                model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=filename, **kwargs)
            else:
                tokenizer = AutoTokenizer.from_pretrained(model_path)
                model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
            return model, tokenizer

        def get_default_conv_template(self, model_path: str) -> Any:
            return get_conv_template(SMOLLM2_TEMPLATE_NAME)

    class SentenceTransformerAdapter(model_adapter.BaseModelAdapter):
        """A sentence-transformers directory: load the bare encoder, not a language-model head."""

        def match(self, model_path: str) -> bool:
            return os.path.isfile(os.path.join(model_path, "modules.json"))

        def load_model(self, model_path: str, from_pretrained_kwargs: dict) -> Any:
            tokenizer = AutoTokenizer.from_pretrained(model_path)
            model = AutoModel.from_pretrained(model_path, **_dtype_kwargs(from_pretrained_kwargs))
            return model, tokenizer

        def get_default_conv_template(self, model_path: str) -> Any:
            return get_conv_template("one_shot")

    model_adapter.model_adapters[:0] = [SmolLM2Adapter(), SentenceTransformerAdapter()]
    model_adapter.get_model_adapter.cache_clear()


def conv_template_for(model_path: str, configured: str | None) -> str | None:
    """The template name to force for a model, or None to let FastChat's adapters decide."""
    if configured:
        return configured
    return SMOLLM2_TEMPLATE_NAME if is_smollm(model_path) else None


# ---------------------------------------------------------------------------------------------
# API server connection pooling


def pool_api_server_connections(model_list_ttl: float = 1.0) -> None:
    """Route the API server's internal calls through one keep-alive aiohttp session.

    Also remembers a worker's context length (constant for its life) and the controller's
    model list for ``model_list_ttl`` seconds between refreshes: a new worker shows up within
    that time, and a vanished one still fails cleanly at ``get_worker_address``.
    """
    if not _once("pooled_connections"):
        return
    import asyncio
    import time

    import aiohttp
    from fastchat.constants import ErrorCode
    from fastchat.serve import openai_api_server as api

    from server.core.request_id import current_headers
    from server.llm.failover import CONNECT_S, RESPONSE_START_S, WorkerHTTPError, split_worker_url

    sessions: dict[str, aiohttp.ClientSession] = {}
    context_lengths: dict[str, Any] = {}
    model_lists: dict[str, tuple[float, Any]] = {}

    def session() -> aiohttp.ClientSession:
        current = sessions.get("session")
        if current is None or current.closed:
            current = aiohttp.ClientSession(
                timeout=api.fetch_timeout,
                connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=60),
                headers=api.headers,
            )
            sessions["session"] = current
        return current

    async def fetch_remote(url: str, pload: Any = None, name: str | None = None) -> Any:
        if url.endswith("/model_details") and name == "context_length" and url in context_lengths:
            return context_lengths[url]
        if url.endswith("/refresh_all_workers"):
            model_lists.clear()  # /v1/models refreshes first: it must always see the truth
        if url.endswith("/list_models") and name == "models":
            cached = model_lists.get(url)
            if cached and time.monotonic() - cached[0] < model_list_ttl:
                return list(cached[1])
        worker_call = split_worker_url(url) is not None and not url.endswith("/worker_generate")
        timeout = aiohttp.ClientTimeout(
            total=RESPONSE_START_S if worker_call else api.fetch_timeout.total, sock_connect=CONNECT_S
        )
        async with session().post(url, json=pload, headers=current_headers(), timeout=timeout) as response:
            if response.status >= 500:
                raise WorkerHTTPError(response.status, (await response.read()).decode(errors="replace"))
            if response.status != 200:
                return json.dumps({"text": str(response.reason), "error_code": ErrorCode.INTERNAL_ERROR})
            body = await response.read()
        if name is None:
            return body
        result = json.loads(body)
        result = result[name] if name != "" else result
        if url.endswith("/model_details") and name == "context_length":
            context_lengths[url] = result
        if url.endswith("/list_models") and name == "models":
            model_lists[url] = (time.monotonic(), list(result))
        return result

    async def generate_completion_stream(payload: dict[str, Any], worker_addr: str) -> AsyncIterator[dict]:
        timeout = aiohttp.ClientTimeout(total=api.fetch_timeout.total, sock_connect=CONNECT_S)
        async with asyncio.timeout(RESPONSE_START_S):  # a hung worker counts as a failed one
            response = await session().post(
                worker_addr + "/worker_generate_stream",
                json=payload,
                headers=current_headers(),
                timeout=timeout,
            )
        try:
            if response.status >= 500:
                raise WorkerHTTPError(response.status, (await response.read()).decode(errors="replace"))
            if response.status != 200:
                body = (await response.read()).decode(errors="replace")
                yield {
                    "text": f"worker error {response.status}: {body}",
                    "error_code": ErrorCode.INTERNAL_ERROR,
                }
                return
            buffer = bytearray()
            async for raw in response.content.iter_any():
                buffer += raw
                while (end := buffer.find(b"\0")) >= 0:
                    frame = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if frame:
                        yield json.loads(frame)
        finally:
            response.release()

    api.fetch_remote = fetch_remote
    api.generate_completion_stream = generate_completion_stream


# ---------------------------------------------------------------------------------------------
# Entry points, one per kind of process


def prepare_controller() -> None:
    route_logging()
    from fastchat.serve import controller

    from server.llm import failover

    if _once("controller_failover"):
        failover.install_controller(controller)


def prepare_api_server(
    controller_address: str, api_keys: list[str] | None = None, tool_models: dict[str, Any] | None = None
) -> Any:
    """Fix and configure FastChat's OpenAI API server; returns its FastAPI app.

    ``tool_models``: per model name, what the settings say about its tool calls
    (``server.llm.tool_api.ModelToolSettings``).
    """
    route_logging()
    fix_pydantic_json()
    # FastChat declares ModelPermission.is_blocking a str and fills it with False.
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
    from fastchat.serve import openai_api_server as api

    pool_api_server_connections()
    from server.llm import failover

    if _once("failover"):
        failover.install_api_server(api)
    from server.core.request_id import RequestIdMiddleware
    from server.llm import tool_api

    if _once("tool_calling"):
        tool_api.install(api.app, api, tool_models)

    api.app.add_middleware(RequestIdMiddleware)
    api.app_settings.controller_address = controller_address
    api.app_settings.api_keys = api_keys
    return api.app


def prepare_llama_worker() -> None:
    """The llama.cpp worker needs no torch: only the logging route and the SmolLM2 template."""
    route_logging()
    register_smollm2_template()


def prepare_transformers_worker() -> None:
    route_logging()
    register_smollm2_template()
    fix_context_length()
    fix_tokenizer_batch_encode()
    register_model_adapters()
    import fastchat.serve.model_worker  # noqa: F401  (after route_logging: it builds a logger at import)

    fix_context_length()
    fix_embedding_attention_mask()
