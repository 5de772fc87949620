"""The one settings object: Chatchat's defaults, a YAML file, and environment overrides on top."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from configs import DEFAULT_SETTINGS_FILE, PROJECT_ROOT, Settings, load_settings


def test_defaults_follow_chatchat_ports_on_loopback(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.yaml")
    assert (settings.controller.port, settings.openai_api.port, settings.api.port, settings.webui.port) == (
        20001,
        20000,
        7861,
        8501,
    )
    assert {settings.controller.host, settings.openai_api.host, settings.api.host, settings.webui.host} == {
        "127.0.0.1"
    }
    assert settings.worker_address("smollm2").port == 20002
    assert settings.llm_models[settings.default_llm].engine == "llama.cpp"
    assert settings.log_dir == PROJECT_ROOT / "logs"


def test_shipped_settings_file_is_valid_and_matches_defaults(clean_env: pytest.MonkeyPatch) -> None:
    from_file = load_settings(DEFAULT_SETTINGS_FILE)
    assert from_file.model_dump() == Settings().model_dump()


def test_file_then_environment_override(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(
        "api: {port: 9000}\n"
        "llm_models:\n  smollm2: {engine: llama.cpp, n_threads: 1}\n"
        "  big: {engine: transformers, path: org/model}\n"
        "data_dir: relative/data\n"
    )
    clean_env.setenv("CHATCHAT_API__PORT", "9100")
    clean_env.setenv("CHATCHAT_LLM_MODELS__SMOLLM2__N_THREADS", "3")
    settings = load_settings(config)
    assert settings.api.port == 9100  # the environment wins over the file
    assert settings.api.host == "127.0.0.1"  # nested values not overridden are kept
    assert settings.llm_models["smollm2"].n_threads == 3
    assert settings.llm_models["big"].path == "org/model"
    assert settings.worker_address("big").port == 20003
    assert settings.data_dir == PROJECT_ROOT / "relative" / "data"


def test_settings_file_from_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "other.yaml"
    config.write_text("log_level: debug\n")
    clean_env.setenv("CHATCHAT_SETTINGS_FILE", str(config))
    assert load_settings().log_level == "DEBUG"


@pytest.mark.parametrize(
    "content, message",
    [
        ("default_llm: missing\n", "default_llm 'missing' is not in llm_models"),
        ("api: {port: 70000}\n", "less than or equal to 65535"),
        ("llm_models: {m: {engine: tensorflow}}\ndefault_llm: m\n", "engine"),
        ("no_such_key: 1\n", "no_such_key"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, content: str, message: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    with pytest.raises((ValidationError, ValueError), match=message):
        load_settings(config)


def test_secrets_are_masked_in_the_printed_configuration(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(
        "llm_models:\n  smollm2: {}\n"
        "  remote: {engine: openai, api_base_url: 'http://x/v1', api_key: sk-SECRET}\n"
    )
    clean_env.setenv("CHATCHAT_SETTINGS_FILE", str(config))
    printed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "startup.py"), "--print-config"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ},
    ).stdout
    assert "sk-SECRET" not in printed
    dumped = json.loads(printed)
    assert dumped["llm_models"]["remote"]["api_key"] == "**********"
    assert dumped["api"]["port"] == 7861


@pytest.mark.parametrize(
    ("name", "model", "native"),
    [
        ("smollm2", {}, False),
        ("qwen2.5-7b", {"engine": "transformers", "path": "Qwen/Qwen2.5-7B-Instruct"}, True),
        ("big", {"path": "/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"}, True),
        ("llama3", {"path": "/models/Meta-Llama-3-8B-Instruct.gguf"}, False),  # 3.0 was not trained for tools
        ("deepseek", {"engine": "openai", "api_base_url": "https://api.deepseek.com/v1"}, True),
        ("smollm2", {"tool_calling": "native"}, True),
        ("qwen3", {"tool_calling": "react"}, False),
    ],
)
def test_the_agent_protocol_follows_the_model_family_unless_configured(
    name: str, model: dict, native: bool
) -> None:
    from configs.settings import LLMModelSettings

    assert LLMModelSettings(**model).uses_native_tools(name) is native


def test_replicas_take_consecutive_ports_after_the_models_before_them(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(
        llm_models={
            "small": {"replicas": 3},
            "big": {"engine": "transformers", "path": "org/model"},
            "pinned": {"port": 30000, "replicas": 2},
        },
        default_llm="small",
    )
    assert [a.port for a in settings.worker_addresses("small")] == [20002, 20003, 20004]
    assert [a.port for a in settings.worker_addresses("big")] == [20005]
    assert [a.port for a in settings.worker_addresses("pinned")] == [30000, 30001]
    assert settings.worker_address("big").port == 20005
    assert settings.llm_models["small"].parallel == 8  # llama.cpp batches 8 requests by default


@pytest.mark.parametrize("model", [{"engine": "vllm", "path": "Qwen/Qwen2.5-7B-Instruct"}, {"vllm_args": {}}])
def test_the_removed_vllm_engine_is_refused_with_the_way_to_run_vllm(
    clean_env: pytest.MonkeyPatch, model: dict
) -> None:
    with pytest.raises(ValidationError, match=r"vllm serve MODEL.*engine: openai"):
        Settings(llm_models={"m": model}, default_llm="m")


@pytest.mark.parametrize(
    ("overrides", "clash"),
    [
        ({"webui": {"port": 20000}}, r"webui and openai_api are both configured on port 20000"),
        ({"api": {"port": 20003}, "llm_models": {"m": {"replicas": 2}}}, r"worker m#1 and api .* 20003"),
        ({"llm_models": {"m": {"port": 8501}}}, r"worker m#0 and webui .* port 8501"),
    ],
)
def test_two_services_on_one_port_are_refused_before_anything_starts(
    clean_env: pytest.MonkeyPatch, overrides: dict, clash: str
) -> None:
    overrides = {"default_llm": "m", "llm_models": {"m": {}}, **overrides}
    with pytest.raises(ValidationError, match=clash):
        Settings(**overrides)
