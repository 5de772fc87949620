"""Each runtime fix for FastChat 0.2.36 on today's libraries, shown to be needed and to work.

Every test exercises FastChat's own code path with the fix applied; without the fix each of
them fails the way the module docstring of ``server.llm.fastchat_compat`` describes.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from fastchat.utils import get_context_length as stock_get_context_length  # taken before any fix

from server.llm import fastchat_compat

# ---- transformers 5: get_context_length -----------------------------------------------------


def test_stock_context_length_breaks_on_transformers_5_llama_config() -> None:
    from transformers import LlamaConfig

    config = LlamaConfig(max_position_embeddings=8192)
    assert isinstance(config.rope_scaling, dict) and "factor" not in config.rope_scaling
    assert stock_get_context_length is not fastchat_compat.get_context_length
    with pytest.raises(KeyError, match="factor"):
        stock_get_context_length(config)


def test_fixed_context_length_reads_llama_and_scaled_configs() -> None:
    from transformers import LlamaConfig

    fastchat_compat.fix_context_length()
    from fastchat import utils

    assert utils.get_context_length(LlamaConfig(max_position_embeddings=8192)) == 8192
    scaled = LlamaConfig(
        max_position_embeddings=4096,
        rope_scaling={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0},
    )
    assert utils.get_context_length(scaled) == 8192


# ---- pydantic 2: .json(ensure_ascii=...) in the API server's streams -------------------------


def test_pydantic_2_rejects_the_keywords_fastchat_streams_with() -> None:
    from pydantic import BaseModel

    class Chunk(BaseModel):
        text: str

    with pytest.raises(TypeError):
        Chunk(text="x").json(exclude_unset=True, ensure_ascii=False)


def test_stream_chunks_serialise_with_pydantic_1_keywords() -> None:
    fastchat_compat.fix_pydantic_json()
    from fastchat.protocol.openai_api_protocol import (
        ChatCompletionResponseStreamChoice,
        ChatCompletionStreamResponse,
        DeltaMessage,
    )

    choice = ChatCompletionResponseStreamChoice(
        index=0, delta=DeltaMessage(content="你好"), finish_reason=None
    )
    chunk = ChatCompletionStreamResponse(id="x", choices=[choice], model="smollm2")
    text = chunk.json(exclude_unset=True, ensure_ascii=False)
    assert "你好" in text  # not \\u-escaped
    assert json.loads(text)["choices"][0]["delta"] == {"content": "你好"}
    assert "finish_reason" not in json.loads(chunk.json(exclude_none=True, ensure_ascii=False))["choices"][0]


# ---- ChatML template for SmolLM2 -------------------------------------------------------------


def _render_model_template(gguf: Path, messages: list[dict[str, str]]) -> str:
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from llama_cpp import Llama

    vocab = Llama(str(gguf), vocab_only=True, verbose=False)
    source = vocab.metadata["tokenizer.chat_template"]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source).render(messages=messages, add_generation_prompt=True)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "What is the capital of France?"}],
        [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "你好吗？"},
        ],
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    ],
)
def test_smollm2_prompt_is_byte_identical_to_the_models_chat_template(
    smollm2_gguf: Path, messages: list[dict[str, str]]
) -> None:
    fastchat_compat.register_smollm2_template()
    from fastchat.conversation import get_conv_template

    conv = get_conv_template("smollm2")
    for message in messages:
        if message["role"] == "system":
            conv.set_system_message(message["content"])
        else:
            conv.append_message(conv.roles[0 if message["role"] == "user" else 1], message["content"])
    conv.append_message(conv.roles[1], None)
    assert conv.get_prompt() == _render_model_template(smollm2_gguf, messages)


def test_stock_fastchat_would_pick_the_wrong_template(smollm2_gguf: Path) -> None:
    """Without our adapter FastChat falls back to the Vicuna-style one_shot template."""
    from fastchat.model.model_adapter import BaseModelAdapter

    assert BaseModelAdapter().get_default_conv_template(str(smollm2_gguf)).name == "one_shot"
    fastchat_compat.register_model_adapters()
    from fastchat.model.model_adapter import get_conversation_template

    assert get_conversation_template(str(smollm2_gguf)).name == "smollm2"


# ---- logging -------------------------------------------------------------------------------


def test_fastchat_loggers_neither_redirect_stdout_nor_write_their_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stdout = sys.stdout
    fastchat_compat.route_logging()
    from fastchat.utils import build_logger

    logger = build_logger("controller", "controller.log")
    assert sys.stdout is stdout
    assert logger.name == "fastchat.controller" and logger.handlers == []
    assert isinstance(logger, logging.Logger)
    assert list(tmp_path.iterdir()) == []


# ---- transformers 5 embeddings: batch_encode_plus and the attention mask ----------------------


@pytest.fixture(scope="module")
def minilm_worker():
    """FastChat's own ModelWorker on the bundled MiniLM, not registered with any controller."""
    fastchat_compat.prepare_transformers_worker()
    from fastchat.serve.model_worker import ModelWorker

    from server.llm.model_locator import bundled_minilm_path

    return ModelWorker(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "test",
        str(bundled_minilm_path()),
        ["all-minilm-l6-v2"],
        limit_worker_concurrency=1,
        no_register=True,
        device="cpu",
        num_gpus=1,
        max_gpu_memory=None,
    )


def test_tokenizers_have_batch_encode_plus_again(minilm_worker) -> None:
    from transformers import PreTrainedTokenizerBase

    assert PreTrainedTokenizerBase.batch_encode_plus is fastchat_compat.batch_encode_plus  # stock has none
    encoded = minilm_worker.tokenizer.batch_encode_plus(
        ["one", "two words"], padding=True, return_tensors="pt"
    )
    assert encoded["input_ids"].shape[0] == 2


def test_padded_batch_embeddings_match_single_embeddings(minilm_worker) -> None:
    """Without the attention mask, the padded (shorter) text drifted to cosine ≈ 0.94."""
    import torch

    texts = ["short", "a considerably longer sentence that forces padding of the short one"]
    batch = torch.tensor(minilm_worker.get_embeddings({"input": texts})["embedding"])
    for i, text in enumerate(texts):
        alone = torch.tensor(minilm_worker.get_embeddings({"input": [text]})["embedding"][0])
        assert torch.nn.functional.cosine_similarity(batch[i], alone, dim=0).item() > 0.9999


def test_embeddings_match_sentence_transformers_pooling(minilm_worker) -> None:
    """Reference: mean pooling over real tokens, L2-normalised (what sentence-transformers does)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from server.llm.model_locator import bundled_minilm_path

    path = bundled_minilm_path()
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    texts = ["The cat sat on the mat.", "Quantum computers use qubits.", "hi"]
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
    ours = torch.tensor(minilm_worker.get_embeddings({"input": texts})["embedding"])
    assert torch.nn.functional.cosine_similarity(ours, reference, dim=1).min().item() > 0.9999
