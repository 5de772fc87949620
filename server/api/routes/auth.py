"""``/auth/*``: the OAuth2 password flow, sign-up, the caller's account and their API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import OAuth2PasswordRequestForm

from server.api.deps import CurrentUser, SettingsDep, UsersDep
from server.api.schemas.auth import (
    ApiKeyCreate,
    ApiKeyOut,
    AuthStatus,
    Me,
    NewApiKey,
    PasswordChange,
    SignupRequest,
    Token,
    UserOut,
)
from server.api.schemas.common import ROW_ID_MAX, BaseResponse, OpenApiResponses
from server.auth.errors import Forbidden, Unauthorized
from server.auth.throttle import LoginThrottle

router = APIRouter(prefix="/auth", tags=["auth"])
ERRORS: OpenApiResponses = {
    400: {"model": BaseResponse},
    401: {"model": BaseResponse},
    403: {"model": BaseResponse},
    409: {"model": BaseResponse},
    429: {"model": BaseResponse, "description": "Too many failed logins lately"},
}


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _auth_on(settings: SettingsDep) -> None:
    if not settings.auth.enabled:
        raise Forbidden("accounts are off (auth.enabled: false): there is nothing to sign in to")


AuthOn = Depends(_auth_on)


@router.get("/status", response_model=AuthStatus)
async def status(settings: SettingsDep, users: UsersDep) -> AuthStatus:
    """Whether accounts are on, whether anyone may sign up, and whether the admin is still to be made."""
    enabled = settings.auth.enabled
    return AuthStatus(
        auth_enabled=enabled,
        signup_enabled=enabled and settings.auth.signup_enabled,
        needs_admin=enabled and await users.count() == 0,
    )


@router.post("/token", response_model=Token, responses=ERRORS, dependencies=[AuthOn])
async def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], users: UsersDep
) -> Token:
    """OAuth2 password flow: form fields `username` (the email) and `password`."""
    throttle: LoginThrottle = request.app.state.login_throttle
    address = _client_address(request)
    await throttle.check(form.username, address)
    user = await users.authenticate(form.username, form.password)
    if user is None:
        await throttle.failed(form.username, address)
        raise Unauthorized("wrong email or password")
    return Token(access_token=users.issue_token(user))


@router.post("/signup", response_model=UserOut, responses=ERRORS, dependencies=[AuthOn])
async def signup(body: SignupRequest, settings: SettingsDep, users: UsersDep) -> UserOut:
    """Create an account. The first one becomes the admin; later ones get `auth.default_role`."""
    if not settings.auth.signup_enabled and await users.count() > 0:
        raise Forbidden("sign-up is closed (auth.signup_enabled: false); ask an admin for an account")
    return UserOut.model_validate(await users.create(body.email, body.password, body.display_name))


@router.get("/me", response_model=Me)
async def me(principal: CurrentUser, settings: SettingsDep) -> Me:
    return Me(
        id=principal.id,
        email=principal.email,
        display_name=principal.display_name,
        role=principal.role,
        auth_enabled=settings.auth.enabled,
    )


@router.post("/logout", response_model=BaseResponse, dependencies=[AuthOn])
async def logout(principal: CurrentUser, users: UsersDep) -> BaseResponse:
    """Revoke every login token of the caller (API keys stay valid until revoked)."""
    if principal.id is not None:
        await users.revoke_tokens(principal.id)
    return BaseResponse(msg="signed out")


@router.post("/password", response_model=Token, responses=ERRORS, dependencies=[AuthOn])
async def change_password(body: PasswordChange, principal: CurrentUser, users: UsersDep) -> Token:
    """Change the caller's password; other sessions are signed out, this one gets a new token."""
    assert principal.id is not None
    user = await users.change_password(principal.id, body.current_password, body.new_password)
    return Token(access_token=users.issue_token(user))


@router.get("/api_keys", response_model=list[ApiKeyOut], dependencies=[AuthOn])
async def list_api_keys(principal: CurrentUser, users: UsersDep) -> list[ApiKeyOut]:
    assert principal.id is not None
    return [ApiKeyOut.model_validate(k) for k in await users.list_keys(principal.id)]


@router.post("/api_keys", response_model=NewApiKey, dependencies=[AuthOn])
async def create_api_key(body: ApiKeyCreate, principal: CurrentUser, users: UsersDep) -> NewApiKey:
    """A new `sk-...` key for the backend and `/v1`; the whole key is in this answer only."""
    assert principal.id is not None
    created = await users.create_key(principal.id, body.name)
    return NewApiKey(**ApiKeyOut.model_validate(created.row).model_dump(), key=created.key)


@router.delete("/api_keys/{key_id}", response_model=BaseResponse, responses=ERRORS, dependencies=[AuthOn])
async def revoke_api_key(
    principal: CurrentUser, users: UsersDep, key_id: int = Path(..., ge=1, le=ROW_ID_MAX)
) -> BaseResponse:
    """Revoke a key: it is refused from the next request on."""
    assert principal.id is not None
    await users.revoke_key(principal.id, key_id)
    return BaseResponse(msg=f"API key {key_id} revoked")
