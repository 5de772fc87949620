"""Conversations and their stored exchanges: every chat is kept, rated and exportable.

Every row belongs to an account (``user_id``); another account's rows answer exactly like ids that
do not exist. ``owner`` is the caller's account id, or ``ANY`` in single-user mode (no filter).
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.api.errors import NotFound
from server.api.services.markdown_export import answer_notes
from server.auth.principal import Principal
from server.db.base import utcnow
from server.db.models import Conversation, Message


class _Any:
    """No owner filter: the single-user mode's caller sees every row."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()
Owner = int | None | _Any


def owner_of(principal: Principal) -> Owner:
    """The owner filter of a caller: their account, or ``ANY`` in single-user mode."""
    return ANY if principal.unrestricted else principal.id


def owns(owner: Owner, user_id: int | None) -> bool:
    return owner is ANY or owner == user_id


def stored_owner(owner: Owner) -> int | None:
    return None if isinstance(owner, _Any) else owner


def new_id() -> str:
    return uuid.uuid4().hex


def _named_after(conversation_id: str, name: str, chat_type: str, owner: Owner) -> Conversation:
    return Conversation(
        id=conversation_id, name=name[:200] or "New chat", chat_type=chat_type, user_id=stored_owner(owner)
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _missing(conversation_id: str) -> NotFound:
    return NotFound(f"conversation {conversation_id!r} does not exist")


class ConversationService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # ---- conversations ----------------------------------------------------------------------

    async def list(self, owner: Owner = ANY, search: str = "") -> builtins.list[Conversation]:
        """Most recently active first; ``search`` keeps those whose name or any exchange contains it.

        The match is a case-insensitive substring (``%`` and ``_`` in it are literal), done by the
        database so a long history is never sent to the client to be searched there.
        """
        async with self._sessions() as session:
            query = select(Conversation).order_by(Conversation.updated_at.desc())
            if owner is not ANY:
                query = query.where(Conversation.user_id == owner)
            if search:
                pattern = "%" + _escape_like(search) + "%"
                in_messages = select(Message.conversation_id).where(
                    or_(
                        Message.query.ilike(pattern, escape="\\"),
                        Message.response.ilike(pattern, escape="\\"),
                    )
                )
                query = query.where(
                    or_(Conversation.name.ilike(pattern, escape="\\"), Conversation.id.in_(in_messages))
                )
            return list(await session.scalars(query))

    async def create(
        self, name: str, chat_type: str, conversation_id: str | None = None, owner: Owner = ANY
    ) -> Conversation:
        conversation = Conversation(
            id=conversation_id or new_id(), name=name, chat_type=chat_type, user_id=stored_owner(owner)
        )
        async with self._sessions() as session, session.begin():
            session.add(conversation)
        return conversation

    async def get(self, conversation_id: str, owner: Owner = ANY) -> Conversation:
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
        if conversation is None or not owns(owner, conversation.user_id):
            raise _missing(conversation_id)
        return conversation

    async def check_usable(self, conversation_id: str, owner: Owner) -> None:
        """A chat may name a conversation that is the caller's or does not exist yet; else 404."""
        if owner is ANY or not conversation_id:
            return
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
        if conversation is not None and conversation.user_id != owner:
            raise _missing(conversation_id)

    async def ensure(self, conversation_id: str, name: str, chat_type: str, owner: Owner = ANY) -> None:
        """Chatchat clients make up conversation ids themselves; the first message creates it."""
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                session.add(_named_after(conversation_id, name, chat_type, owner))
            elif not owns(owner, conversation.user_id):
                raise _missing(conversation_id)

    async def rename(
        self,
        conversation_id: str,
        name: str | None,
        owner: Owner = ANY,
        settings: dict[str, Any] | None = None,
    ) -> Conversation:
        """A new name and/or new settings (``None`` leaves either as it is)."""
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or not owns(owner, conversation.user_id):
                raise _missing(conversation_id)
            if name is not None:
                conversation.name = name
            if settings is not None:
                conversation.settings = settings
        return conversation

    async def delete(self, conversation_id: str, owner: Owner = ANY) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or not owns(owner, conversation.user_id):
                raise _missing(conversation_id)
            await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
            await session.delete(conversation)

    # ---- messages ---------------------------------------------------------------------------

    async def truncate(self, conversation_id: str, message_id: str, owner: Owner = ANY) -> int:
        """Delete one exchange and every later one of the conversation (regenerate, edit and resend).

        Returns how many were deleted. The conversation itself stays; a message of another
        conversation (or account) is a 404, like one that does not exist.
        """
        await self.get(conversation_id, owner)
        async with self._sessions() as session, session.begin():
            message = await session.get(Message, message_id)
            if message is None or message.conversation_id != conversation_id:
                raise NotFound(f"message {message_id!r} is not in conversation {conversation_id!r}")
            later = delete(Message).where(
                Message.conversation_id == conversation_id, Message.created_at >= message.created_at
            )
            result = await session.execute(later)
            conversation = await session.get(Conversation, conversation_id)
            if conversation is not None:
                conversation.updated_at = utcnow()
        return int(getattr(result, "rowcount", 0) or 0)

    async def messages(
        self, conversation_id: str, last: int | None = None, owner: Owner = ANY
    ) -> builtins.list[Message]:
        """A conversation's exchanges, oldest first; ``last`` keeps only the newest n."""
        await self.get(conversation_id, owner)
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
        owner: Owner = ANY,
    ) -> None:
        async with self._sessions() as session, session.begin():
            if conversation_id:
                conversation = await session.get(Conversation, conversation_id)
                if conversation is None:  # a client-made id: its first message creates it
                    session.add(_named_after(conversation_id, query[:40], chat_type, owner))
                elif not owns(owner, conversation.user_id):  # checked before; never write into it
                    conversation_id = None
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
                    user_id=stored_owner(owner),
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

    async def feedback(self, message_id: str, score: int, reason: str, owner: Owner = ANY) -> None:
        async with self._sessions() as session, session.begin():
            message = await session.get(Message, message_id)
            if message is None or not owns(owner, message.user_id):
                raise NotFound(f"message {message_id!r} does not exist")
            message.feedback_score = score
            message.feedback_reason = reason

    async def export_markdown(self, conversation_id: str, owner: Owner = ANY) -> tuple[str, str]:
        """(name, Markdown text) of a conversation, for download; answers list their sources or tools."""
        conversation = await self.get(conversation_id, owner)
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
