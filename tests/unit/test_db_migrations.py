"""The schema is created by versioned migrations, which match the models and keep data on upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from server.db.engine import create_engine
from server.db.migrate import alembic_config, current_revision, upgrade
from server.db.models import metadata


def test_the_migrations_are_one_numbered_chain_with_one_head() -> None:
    """Branches merged from different work must be re-chained, or ``upgrade head`` fails."""
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1, f"several heads: {scripts.get_heads()}"
    chain = [s.revision for s in scripts.walk_revisions("base", "heads")][::-1]
    numbers = [int(revision.split("_", 1)[0]) for revision in chain]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), chain
    assert chain[0] == "0001_conversations" and "0004_kb_storage" in chain


def test_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    async def scenario() -> list:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'info.db'}")
        await upgrade(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
        await engine.dispose()
        return diff

    assert asyncio.run(scenario()) == []


def test_upgrading_again_keeps_rows(tmp_path: Path) -> None:
    async def scenario() -> tuple[str | None, int]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'info.db'}")
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO conversation (id, name, chat_type, created_at, updated_at) "
                    "VALUES ('c1', 'kept', 'llm_chat', '2026-01-01', '2026-01-01')"
                )
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            count = (await connection.execute(text("SELECT count(*) FROM conversation"))).scalar_one()
        revision = await current_revision(engine)
        await engine.dispose()
        return revision, count

    revision, count = asyncio.run(scenario())
    assert revision is not None and count == 1


def test_the_migrations_form_one_numbered_chain() -> None:
    """One head, and each revision's number follows the one it revises (a second head breaks upgrades)."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    chain = [r.revision for r in script.walk_revisions()][::-1]
    numbers = [int(revision.split("_", 1)[0]) for revision in chain]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), chain
    assert chain[:3] == ["0001_conversations", "0002_knowledge_base", "0003_accounts"]
