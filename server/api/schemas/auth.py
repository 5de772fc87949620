"""Wire models of accounts, login tokens, API keys and knowledge-base access."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RoleName = Literal["admin", "user", "pending"]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"


class Token(BaseModel):
    """OAuth2's token response (what the /docs page's Authorize button expects)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"


class SignupRequest(BaseModel):
    email: str = Field(..., max_length=320, pattern=EMAIL_PATTERN, examples=["ada@example.com"])
    password: str = Field(..., min_length=8, max_length=1024)
    display_name: str = Field("", max_length=100)


class PasswordChange(BaseModel):
    current_password: str = Field(..., max_length=1024)
    new_password: str = Field(..., min_length=8, max_length=1024)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: RoleName
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class Me(BaseModel):
    """The caller; ``id`` is null in single-user mode."""

    id: int | None
    email: str
    display_name: str
    role: RoleName
    auth_enabled: bool


class AuthStatus(BaseModel):
    """What a login page needs before anyone signs in."""

    auth_enabled: bool
    signup_enabled: bool
    needs_admin: bool = Field(description="No account exists yet: the next sign-up becomes the admin.")


class UserUpdate(BaseModel):
    role: RoleName | None = None
    disabled: bool | None = None


class ApiKeyCreate(BaseModel):
    name: str = Field("", max_length=100)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime


class NewApiKey(ApiKeyOut):
    key: str = Field(description="The whole key: shown this once, stored only as a hash.")


class Share(BaseModel):
    email: str = Field(..., max_length=320, pattern=EMAIL_PATTERN)
    permission: Literal["read", "write"] = "read"


class KnowledgeBaseAccessOut(BaseModel):
    knowledge_base_name: str
    owner: str | None = Field(description="Owner's email; null = the admins'.")
    visibility: Literal["private", "shared", "public"]
    shares: list[Share]


class KnowledgeBaseAccessUpdate(BaseModel):
    knowledge_base_name: str = Field(..., min_length=1, max_length=50, examples=["samples"])
    visibility: Literal["private", "shared", "public"]
    shares: list[Share] = Field(default_factory=list, description="Users who may read or write.")
