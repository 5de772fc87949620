"""The same storage code on PostgreSQL: migrations and the conversation service on a real server
(the embedded PostgreSQL of ``tests/support/postgres.py``)."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from server.api.services.conversation_service import ConversationService
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.db.models import metadata


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
