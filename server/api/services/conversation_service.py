"""Conversations and their stored exchanges: every chat is kept, rated and exportable."""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.api.errors import NotFound
from server.api.services.markdown_export import answer_notes
from server.db.base import utcnow
from server.db.models import Conversation, Message


def new_id() -> str:
    return uuid.uuid4().hex


def _named_after(conversation_id: str, name: str, chat_type: str) -> Conversation:
    return Conversation(id=conversation_id, name=name[:200] or "New chat", chat_type=chat_type)


class ConversationService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # ---- conversations ----------------------------------------------------------------------

    async def list(self) -> builtins.list[Conversation]:
        async with self._sessions() as session:
            rows = await session.scalars(select(Conversation).order_by(Conversation.updated_at.desc()))
            return list(rows)

    async def create(self, name: str, chat_type: str, conversation_id: str | None = None) -> Conversation:
        conversation = Conversation(id=conversation_id or new_id(), name=name, chat_type=chat_type)
        async with self._sessions() as session, session.begin():
            session.add(conversation)
        return conversation

    async def get(self, conversation_id: str) -> Conversation:
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id!r} does not exist")
        return conversation

    async def ensure(self, conversation_id: str, name: str, chat_type: str) -> None:
        """Chatchat clients make up conversation ids themselves; the first message creates it."""
        async with self._sessions() as session, session.begin():
            if await session.get(Conversation, conversation_id) is None:
                session.add(_named_after(conversation_id, name, chat_type))

    async def rename(self, conversation_id: str, name: str) -> Conversation:
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id!r} does not exist")
            conversation.name = name
        return conversation

    async def delete(self, conversation_id: str) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id!r} does not exist")
            await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
            await session.delete(conversation)

    # ---- messages ---------------------------------------------------------------------------

    async def messages(self, conversation_id: str, last: int | None = None) -> builtins.list[Message]:
        """A conversation's exchanges, oldest first; ``last`` keeps only the newest n."""
        await self.get(conversation_id)
        async with self._sessions() as session:
            query = select(Message).where(Message.conversation_id == conversation_id)
            if last is not None:
                rows = await session.scalars(query.order_by(Message.created_at.desc()).limit(last))
                return list(reversed(list(rows)))
            return list(await session.scalars(query.order_by(Message.created_at)))

    async def add_message(
        self,
        message_id: str,
        query: str,
        *,
        conversation_id: str | None,
        chat_type: str,
        model_name: str | None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        async with self._sessions() as session, session.begin():
            if conversation_id:
                conversation = await session.get(Conversation, conversation_id)
                if conversation is None:  # a client-made id: its first message creates it
                    session.add(_named_after(conversation_id, query[:40], chat_type))
                else:
                    conversation.updated_at = utcnow()
            session.add(
                Message(
                    id=message_id,
                    conversation_id=conversation_id or None,
                    chat_type=chat_type,
                    query=query,
                    response="",
                    model_name=model_name,
                    meta=meta or {},
                )
            )

    async def finish_message(
        self, message_id: str, response: str, meta: dict[str, Any] | None = None
    ) -> None:
        async with self._sessions() as session, session.begin():
            message = await session.get(Message, message_id)
            if message is not None:
                message.response = response
                if meta:
                    message.meta = {**message.meta, **meta}

    async def feedback(self, message_id: str, score: int, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            message = await session.get(Message, message_id)
            if message is None:
                raise NotFound(f"message {message_id!r} does not exist")
            message.feedback_score = score
            message.feedback_reason = reason

    async def export_markdown(self, conversation_id: str) -> tuple[str, str]:
        """(name, Markdown text) of a conversation, for download; answers list their sources or tools."""
        conversation = await self.get(conversation_id)
        lines = [f"# {conversation.name}", ""]
        for message in await self.messages(conversation_id):
            stamp = message.created_at.strftime("%Y-%m-%d %H:%M")
            lines += [
                f"**User** ({stamp}):",
                "",
                message.query,
                "",
                f"**Assistant** ({message.model_name or ''}):",
                "",
                message.response,
                "",
                *answer_notes(message.meta),
                "---",
                "",
            ]
        return conversation.name, "\n".join(lines)
