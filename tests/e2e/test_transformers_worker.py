"""FastChat's own transformers ModelWorker (the GPU path), run here on CPU with the bundled GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai import OpenAI

from server.launcher.harness import running_stack

pytestmark = pytest.mark.slow


def test_transformers_engine_serves_the_model_through_the_chain(tmp_path: Path) -> None:
    env = {
        "CHATCHAT_LLM_MODELS__SMOLLM2__ENGINE": "transformers",
        "CHATCHAT_LLM_MODELS__SMOLLM2__DTYPE": "bfloat16",
    }
    with running_stack(tmp_path, ("--llm-api",), env=env) as stack:
        client = OpenAI(base_url=f"{stack.urls.openai_api}/v1", api_key="EMPTY")
        answer = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
            max_tokens=12,
        )
        streamed = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
            max_tokens=12,
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        worker_log = (stack.log_dir / "model_worker-smollm2.log").read_text()
    assert "Paris" in answer.choices[0].message.content
    assert text == answer.choices[0].message.content
    assert "Loading the model ['smollm2']" in worker_log  # FastChat's ModelWorker, not ours
