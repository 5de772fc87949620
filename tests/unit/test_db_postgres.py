"""The same storage code on PostgreSQL: migrations and the conversation service on a real server."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from server.api.services.conversation_service import ConversationService
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.db.models import metadata
from server.launcher.harness import free_port


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; drop to its own account when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        pytest.fail("PostgreSQL is not installed: run `bash scripts/setup.sh --test`")
    bindir = Path(binaries[-1])
    root = Path(tempfile.mkdtemp(prefix="chatchat-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "chatchat", "--auth=trust"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "start",
                "-l",
                str(root / "server.log"),
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(
                [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "chatchat", "chatchat"]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql+asyncpg://chatchat@127.0.0.1:{port}/chatchat"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_migrations_and_conversations_on_postgresql(postgres_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(postgres_url)
        await upgrade(engine)
        await upgrade(engine)  # idempotent
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
        assert diff == []

        service = ConversationService(session_factory(engine))
        conversation = await service.create("Postgres chat", "llm_chat")
        await service.add_message(
            "m1",
            "hello",
            conversation_id=conversation.id,
            chat_type="llm_chat",
            model_name="smollm2",
            meta={"temperature": 0.5},
        )
        await service.finish_message("m1", "hi there", {"tokens": 3})
        await service.feedback("m1", 80, "good")
        [message] = await service.messages(conversation.id)
        assert (message.response, message.feedback_score, message.meta) == (
            "hi there",
            80,
            {"temperature": 0.5, "tokens": 3},
        )
        name, markdown = await service.export_markdown(conversation.id)
        assert name == "Postgres chat" and "hi there" in markdown
        await service.delete(conversation.id)
        # A client-made conversation id: the first message creates the conversation in the same transaction.
        await service.add_message(
            "m2",
            "search this",
            conversation_id="client-made",
            chat_type="search_engine_chat",
            model_name="smollm2",
        )
        assert [m.id for m in await service.messages("client-made")] == ["m2"]
        await service.delete("client-made")
        assert await service.list() == []
        await engine.dispose()

    asyncio.run(scenario())
