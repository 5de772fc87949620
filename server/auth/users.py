"""Accounts in the database: sign-up, login, roles, API keys, and turning a bearer into a Principal."""

from __future__ import annotations

import asyncio
import builtins
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs import Settings
from server.auth import api_keys, passwords, tokens
from server.auth.errors import Conflict, Forbidden
from server.auth.principal import ADMIN, PENDING, ROLES, Principal
from server.core.errors import InvalidInput, NotFound
from server.db.base import utcnow
from server.db.models import ApiKey, Conversation, KnowledgeBaseAccess, Message, User

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class NewKey:
    """A key as created: the only moment its full text is known."""

    row: ApiKey
    key: str


def _clears_cache(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Users or keys change: forget remembered callers before and after (no stale one survives)."""

    @functools.wraps(method)
    async def changing(self: UserService, *args: Any, **kwargs: Any) -> T:
        self._cache.clear()
        try:
            return await method(self, *args, **kwargs)
        finally:
            self._cache.clear()

    return changing


def principal_of(user: User, via_key: bool = False) -> Principal:
    return Principal(
        id=user.id, email=user.email, role=user.role, display_name=user.display_name, via_key=via_key
    )


def normalise_email(email: str) -> str:
    return email.strip().lower()


class UserService:
    """Accounts of one database.

    ``cache_ttl`` > 0 remembers the caller a bearer stands for that long, so checking it costs no
    query per request; every change to users or keys made through this object clears it at once
    (revocation stays immediate here), and changes made by another process are seen within the TTL.
    The API server, where keys are revoked from elsewhere, uses none.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, cache_ttl: float = 0.0
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._signup_lock = asyncio.Lock()  # "first account becomes admin" must not race
        self._cache_ttl = cache_ttl
        self._cache: dict[str, tuple[float, Principal]] = {}

    @property
    def _secret(self) -> str:
        key = self._settings.auth.secret_key
        if key is None:
            raise RuntimeError("auth.secret_key is not set")
        return key.get_secret_value()

    # ---- accounts ---------------------------------------------------------------------------

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)

    @_clears_cache
    async def create(
        self, email: str, password: str, display_name: str = "", role: str | None = None
    ) -> User:
        """A new account; the very first one is an admin (and claims what single-user mode made)."""
        email = normalise_email(email)
        if len(password) < passwords.MIN_LENGTH:
            raise InvalidInput(f"the password must have at least {passwords.MIN_LENGTH} characters")
        password_hash = await asyncio.to_thread(passwords.hash_password, password)
        async with self._signup_lock:
            async with self._sessions() as session, session.begin():
                if await session.scalar(select(User.id).where(User.email == email)) is not None:
                    raise Conflict(f"an account for {email} already exists")
                first = not await session.scalar(select(func.count()).select_from(User))
                user = User(
                    email=email,
                    display_name=(display_name or email.split("@")[0])[:100],
                    role=ADMIN if first else (role or self._settings.auth.default_role),
                    password_hash=password_hash,
                )
                session.add(user)
                await session.flush()
                if first:
                    await self._claim_unowned(session, user.id)
        logger.info("account %s created (role %s)", user.email, user.role)
        return user

    @staticmethod
    async def _claim_unowned(session: AsyncSession, admin_id: int) -> None:
        """What existed before accounts (or was made in single-user mode) goes to the first admin."""
        for table in (Conversation, Message):
            await session.execute(update(table).where(table.user_id.is_(None)).values(user_id=admin_id))
        await session.execute(
            update(KnowledgeBaseAccess)
            .where(KnowledgeBaseAccess.owner_id.is_(None))
            .values(owner_id=admin_id)
        )

    async def claim_unowned(self) -> None:
        """At start with accounts on: single-user mode's rows go to the first admin, if there is one."""
        async with self._sessions() as session, session.begin():
            admin_id = await session.scalar(
                select(User.id).where(User.role == ADMIN).order_by(User.id).limit(1)
            )
            if admin_id is not None:
                await self._claim_unowned(session, admin_id)

    async def bootstrap_admin(self) -> None:
        """``auth.admin_email``/``admin_password``: create that admin when there is no account yet."""
        auth = self._settings.auth
        if not auth.admin_email or auth.admin_password is None or await self.count():
            return
        try:
            await self.create(auth.admin_email, auth.admin_password.get_secret_value(), role=ADMIN)
        except Conflict:
            pass

    async def get(self, user_id: int) -> User:
        async with self._sessions() as session:
            user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        return user

    async def list(self) -> list[User]:
        async with self._sessions() as session:
            return list(await session.scalars(select(User).order_by(User.id)))

    async def authenticate(self, email: str, password: str) -> User | None:
        """The account if the password is right (and it may log in); None otherwise."""
        email = normalise_email(email)
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.email == email))
        ok = await asyncio.to_thread(
            passwords.verify_password, password, user.password_hash if user else None
        )
        if not ok or user is None or user.disabled:
            return None
        async with self._sessions() as session, session.begin():
            await session.execute(update(User).where(User.id == user.id).values(last_login_at=utcnow()))
        return user

    def issue_token(self, user: User) -> str:
        lifetime = timedelta(minutes=self._settings.auth.token_expire_minutes)
        return tokens.issue_token(self._secret, user.id, user.token_version, lifetime)

    @_clears_cache
    async def revoke_tokens(self, user_id: int) -> None:
        """Logout: every token issued so far stops working."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
            )

    @_clears_cache
    async def change_password(self, user_id: int, current: str, new: str) -> User:
        user = await self.get(user_id)
        if not await asyncio.to_thread(passwords.verify_password, current, user.password_hash):
            raise Forbidden("the current password is wrong")
        if len(new) < passwords.MIN_LENGTH:
            raise InvalidInput(f"the password must have at least {passwords.MIN_LENGTH} characters")
        new_hash = await asyncio.to_thread(passwords.hash_password, new)
        async with self._sessions() as session, session.begin():
            row = await session.get(User, user_id)
            assert row is not None
            row.password_hash = new_hash
            row.token_version += 1  # other sessions are signed out; the caller gets a new token
        return await self.get(user_id)

    # ---- administration ---------------------------------------------------------------------

    async def _other_admins(self, session: AsyncSession, user_id: int) -> int:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == ADMIN, User.id != user_id, User.disabled.is_(False))
            )
            or 0
        )

    @_clears_cache
    async def update(self, user_id: int, *, role: str | None = None, disabled: bool | None = None) -> User:
        if role is not None and role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        async with self._signup_lock:
            async with self._sessions() as session, session.begin():
                user = await session.get(User, user_id)
                if user is None:
                    raise NotFound(f"user {user_id} does not exist")
                demoted = (role is not None and role != ADMIN) or disabled
                if user.role == ADMIN and demoted and not await self._other_admins(session, user_id):
                    raise Conflict("the last admin cannot be demoted or disabled")
                if role is not None:
                    user.role = role
                if disabled is not None:
                    user.disabled = disabled
                    if disabled:
                        user.token_version += 1
        return await self.get(user_id)

    @_clears_cache
    async def delete(self, user_id: int) -> None:
        async with self._signup_lock:
            async with self._sessions() as session, session.begin():
                user = await session.get(User, user_id)
                if user is None:
                    raise NotFound(f"user {user_id} does not exist")
                if user.role == ADMIN and not await self._other_admins(session, user_id):
                    raise Conflict("the last admin cannot be deleted")
                await session.delete(user)

    async def find_by_email(self, email: str) -> User | None:
        async with self._sessions() as session:
            return await session.scalar(select(User).where(User.email == normalise_email(email)))

    # ---- API keys ---------------------------------------------------------------------------

    async def create_key(self, user_id: int, name: str) -> NewKey:
        key = api_keys.new_key()
        row = ApiKey(
            user_id=user_id,
            name=name[:100],
            prefix=api_keys.shown_prefix(key),
            key_hash=api_keys.key_hash(key),
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return NewKey(row, key)

    async def list_keys(self, user_id: int) -> builtins.list[ApiKey]:
        async with self._sessions() as session:
            return list(
                await session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id))
            )

    @_clears_cache
    async def revoke_key(self, user_id: int, key_id: int) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(ApiKey, key_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"API key {key_id} does not exist")
            await session.delete(row)

    # ---- who is calling ---------------------------------------------------------------------

    async def principal_for(self, bearer: str) -> Principal | None:
        """The caller a bearer token or API key stands for; None when it is not valid (now)."""
        if self._cache_ttl <= 0:
            return await self._lookup(bearer)
        digest = hashlib.sha256(bearer.encode()).hexdigest()
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await self._lookup(bearer)
        if principal is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self._cache_ttl, principal)
        return principal

    async def _lookup(self, bearer: str) -> Principal | None:
        if api_keys.looks_like_key(bearer):
            async with self._sessions() as session:
                row = await session.execute(
                    select(User)
                    .join(ApiKey, ApiKey.user_id == User.id)
                    .where(ApiKey.key_hash == api_keys.key_hash(bearer))
                )
                user = row.scalar_one_or_none()
            if user is None or user.disabled:
                return None
            return principal_of(user, via_key=True)
        claims = tokens.read_token(self._secret, bearer)
        if claims is None:
            return None
        async with self._sessions() as session:
            user = await session.get(User, claims.user_id)
        if user is None or user.disabled or user.token_version != claims.version:
            return None
        return principal_of(user)


def may_act(principal: Principal) -> bool:
    """A pending account may only look at itself."""
    return principal.role != PENDING
