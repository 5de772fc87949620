"""Shared fixtures: the bundled model's path, and settings isolated from the developer's environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.llm.model_locator import bundled_smollm2_path


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    return bundled_smollm2_path()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No CHATCHAT_* variable of the caller leaks into a settings test."""
    import os

    for key in list(os.environ):
        if key.startswith("CHATCHAT_"):
            monkeypatch.delenv(key)
    yield monkeypatch


from tests.support.postgres import postgres_server_url, postgres_url  # noqa: E402,F401 - shared fixtures
