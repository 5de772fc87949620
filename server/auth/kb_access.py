"""Knowledge-base access policy: owner, visibility (private | shared | public) and per-user shares.

Applied at the route layer, before the knowledge-base service is asked anything: a knowledge base
the caller may not read answers exactly like one that does not exist (404), so names of others'
knowledge bases cannot be probed. Admins (and the single-user mode's caller) read and write all.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.auth.errors import Forbidden
from server.auth.principal import Principal
from server.core.errors import InvalidInput, NotFound
from server.db.models import (
    KnowledgeBase,
    KnowledgeBaseAccess,
    KnowledgeBaseShare,
    TempKnowledgeBaseOwner,
    User,
)

Visibility = Literal["private", "shared", "public"]
Permission = Literal["read", "write"]
VISIBILITIES = ("private", "shared", "public")


@dataclass
class AccessInfo:
    kb_name: str
    owner_id: int | None
    owner_email: str | None
    visibility: str
    shares: list[tuple[int, str, str]] = field(default_factory=list)  # (user id, email, permission)


def _not_found(name: str) -> NotFound:
    # Word for word what the knowledge-base service says about a name it does not know.
    return NotFound(f"knowledge base {name!r} does not exist")


class KnowledgeBaseAccessPolicy:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def _lookup(self, session: AsyncSession, name: str) -> tuple[int, int | None, str] | None:
        row = (
            await session.execute(
                select(KnowledgeBase.id, KnowledgeBaseAccess.owner_id, KnowledgeBaseAccess.visibility)
                .outerjoin(KnowledgeBaseAccess, KnowledgeBaseAccess.kb_id == KnowledgeBase.id)
                .where(KnowledgeBase.kb_name == name)
            )
        ).first()
        if row is None:
            return None
        # No access row (made outside the API): the admins' alone until someone shares it.
        return int(row[0]), row[1], row[2] or "private"

    async def permission(self, principal: Principal, name: str) -> Permission | None | Literal["missing"]:
        """What the caller may do with ``name``: write, read, nothing (None), or it does not exist."""
        async with self._sessions() as session:
            found = await self._lookup(session, name)
            if found is None:
                return "missing"
            if principal.unrestricted or principal.is_admin:
                return "write"
            kb_id, owner_id, visibility = found
            if owner_id is not None and owner_id == principal.id:
                return "write"
            granted: str | None = None
            if visibility != "private":
                granted = await session.scalar(
                    select(KnowledgeBaseShare.permission).where(
                        KnowledgeBaseShare.kb_id == kb_id, KnowledgeBaseShare.user_id == principal.id
                    )
                )
            if granted == "write":
                return "write"
            if granted == "read" or visibility == "public":
                return "read"
            return None

    async def require_read(self, principal: Principal, name: str) -> None:
        """404 unless the caller may read ``name`` (an unknown name is left to the service's own 404)."""
        if principal.unrestricted:
            return
        if await self.permission(principal, name) is None:
            raise _not_found(name)

    async def require_write(self, principal: Principal, name: str) -> None:
        if principal.unrestricted:
            return
        allowed = await self.permission(principal, name)
        if allowed is None:
            raise _not_found(name)
        if allowed == "read":
            raise Forbidden(f"you may read knowledge base {name!r} but not change it")

    async def require_manage(self, principal: Principal, name: str) -> None:
        """Owner or admin: delete the knowledge base, change who may use it."""
        if principal.unrestricted or principal.is_admin:
            return
        async with self._sessions() as session:
            found = await self._lookup(session, name)
        if found is None:
            return
        if found[1] != principal.id:
            await self.require_read(principal, name)  # not readable: 404 as if it did not exist
            raise Forbidden(f"only the owner of knowledge base {name!r} or an admin may do this")

    async def readable(self, principal: Principal) -> set[str] | None:
        """Names the caller may read; None = all of them."""
        if principal.unrestricted or principal.is_admin:
            return None
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    KnowledgeBase.kb_name, KnowledgeBaseAccess.owner_id, KnowledgeBaseAccess.visibility
                ).outerjoin(KnowledgeBaseAccess, KnowledgeBaseAccess.kb_id == KnowledgeBase.id)
            )
            shared = set(
                await session.scalars(
                    select(KnowledgeBase.kb_name)
                    .join(KnowledgeBaseShare, KnowledgeBaseShare.kb_id == KnowledgeBase.id)
                    .join(KnowledgeBaseAccess, KnowledgeBaseAccess.kb_id == KnowledgeBase.id)
                    .where(
                        KnowledgeBaseShare.user_id == principal.id,
                        KnowledgeBaseAccess.visibility != "private",
                    )
                )
            )
        names = {name for name, owner, vis in rows if owner == principal.id or vis == "public"}
        return names | shared

    async def filter_readable(self, principal: Principal, names: Collection[str]) -> list[str]:
        allowed = await self.readable(principal)
        return list(names) if allowed is None else [n for n in names if n in allowed]

    # ---- changing access --------------------------------------------------------------------

    async def created(self, principal: Principal, name: str, visibility: Visibility | None = None) -> None:
        """A new knowledge base: the caller owns it; private unless said otherwise."""
        async with self._sessions() as session, session.begin():
            found = await self._lookup(session, name)
            if found is None:
                return
            row = await session.get(KnowledgeBaseAccess, found[0])
            if row is None:
                session.add(
                    KnowledgeBaseAccess(
                        kb_id=found[0], owner_id=principal.owner_id, visibility=visibility or "private"
                    )
                )

    async def make_public(self, name: str) -> None:
        """For knowledge bases the app makes itself (the samples): everyone may read them."""
        async with self._sessions() as session, session.begin():
            found = await self._lookup(session, name)
            if found is not None and await session.get(KnowledgeBaseAccess, found[0]) is None:
                session.add(KnowledgeBaseAccess(kb_id=found[0], owner_id=None, visibility="public"))

    async def describe(self, name: str) -> AccessInfo:
        async with self._sessions() as session:
            found = await self._lookup(session, name)
            if found is None:
                raise _not_found(name)
            kb_id, owner_id, visibility = found
            owner_email = (
                await session.scalar(select(User.email).where(User.id == owner_id)) if owner_id else None
            )
            shares = (
                await session.execute(
                    select(KnowledgeBaseShare.user_id, User.email, KnowledgeBaseShare.permission)
                    .join(User, User.id == KnowledgeBaseShare.user_id)
                    .where(KnowledgeBaseShare.kb_id == kb_id)
                    .order_by(User.email)
                )
            ).all()
        return AccessInfo(name, owner_id, owner_email, visibility, [(s[0], s[1], s[2]) for s in shares])

    async def set_access(
        self,
        name: str,
        visibility: Visibility,
        shares: dict[str, Permission],
    ) -> AccessInfo:
        """Replace visibility and shares (by email); unknown emails are a 400 naming them."""
        if visibility not in VISIBILITIES:
            raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}")
        async with self._sessions() as session, session.begin():
            found = await self._lookup(session, name)
            if found is None:
                raise _not_found(name)
            kb_id = found[0]
            emails = {email.strip().lower(): perm for email, perm in shares.items()}
            users = dict(
                (await session.execute(select(User.email, User.id).where(User.email.in_(list(emails))))).all()
            )
            unknown = sorted(set(emails) - set(users))
            if unknown:
                raise InvalidInput(f"no account for {', '.join(unknown)}")
            row = await session.get(KnowledgeBaseAccess, kb_id)
            if row is None:
                row = KnowledgeBaseAccess(kb_id=kb_id, owner_id=None, visibility=visibility)
                session.add(row)
            row.visibility = visibility
            await session.execute(delete(KnowledgeBaseShare).where(KnowledgeBaseShare.kb_id == kb_id))
            for email, permission in emails.items():
                if permission not in ("read", "write"):
                    raise InvalidInput(f"permission for {email} must be read or write")
                if users[email] != row.owner_id:
                    session.add(KnowledgeBaseShare(kb_id=kb_id, user_id=users[email], permission=permission))
        return await self.describe(name)


class ScopedKnowledgeSearcher:
    """The agent's knowledge-base tool, limited to what the caller may read."""

    def __init__(self, service: object, names: set[str] | None) -> None:
        self._service = service
        self._names = names

    async def search_knowledge(self, query: str, top_k: int) -> list[tuple[str, str]]:
        return await self._service.search_knowledge(query, top_k, kb_names=self._names)  # type: ignore[attr-defined]


class TempUploadOwners:
    """Who made each file-chat upload: only they may add to it, chat with it or download from it.

    Kept in the database beside the upload (and gone with it), so any replica and a restarted
    backend answer the same.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @staticmethod
    def _gone(upload_id: str) -> NotFound:
        # Word for word what the file-chat store says about an id it does not know.
        return NotFound(f"temporary knowledge {upload_id!r} does not exist or has expired")

    async def record(self, upload_id: str, principal: Principal) -> None:
        try:
            async with self._sessions() as session, session.begin():
                if await session.get(TempKnowledgeBaseOwner, upload_id) is None:
                    session.add(TempKnowledgeBaseOwner(temp_id=upload_id, owner_id=principal.owner_id))
        except IntegrityError as exc:  # the upload expired (was pushed out) in the meantime
            raise self._gone(upload_id) from exc

    async def require(self, principal: Principal, upload_id: str) -> None:
        """404 (as for an expired upload) unless the caller made it."""
        if principal.unrestricted:
            return
        async with self._sessions() as session:
            row = await session.get(TempKnowledgeBaseOwner, upload_id)
        if row is None or row.owner_id != principal.id:
            raise self._gone(upload_id)
