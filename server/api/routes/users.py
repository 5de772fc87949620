"""``/users``: account administration (admins only). The last admin cannot be removed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from server.api.deps import AdminOnly, UsersDep
from server.api.schemas.auth import UserOut, UserUpdate
from server.api.schemas.common import ROW_ID_MAX, BaseResponse, OpenApiResponses

UserId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="Account id")]

router = APIRouter(prefix="/users", tags=["users"], dependencies=[AdminOnly])
ERRORS: OpenApiResponses = {
    404: {"model": BaseResponse},
    409: {"model": BaseResponse, "description": "The last admin"},
}


@router.get("", response_model=list[UserOut])
async def list_users(users: UsersDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await users.list()]


@router.patch("/{user_id}", response_model=UserOut, responses=ERRORS)
async def update_user(body: UserUpdate, users: UsersDep, user_id: UserId) -> UserOut:
    """Approve (role `user`), change the role, disable or enable an account."""
    return UserOut.model_validate(await users.update(user_id, role=body.role, disabled=body.disabled))


@router.delete("/{user_id}", response_model=BaseResponse, responses=ERRORS)
async def delete_user(users: UsersDep, user_id: UserId) -> BaseResponse:
    """Delete an account with its conversations and keys; knowledge bases it owned go to the admins."""
    await users.delete(user_id)
    return BaseResponse(msg=f"user {user_id} deleted")
