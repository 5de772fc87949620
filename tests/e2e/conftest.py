"""The whole stack, started once per session exactly as a user starts it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.launcher.harness import RunningStack, start_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # DEBUG: the worker then logs the prompt it receives, which the history tests read.
    running = start_stack(tmp_path_factory.mktemp("stack"), ("--all",), env={"CHATCHAT_LOG_LEVEL": "DEBUG"})
    yield running
    running.stop()


def sse_events(lines) -> list[dict]:
    """Parse ``data: {...}`` Server-Sent Events lines into dicts."""
    import json

    return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]
