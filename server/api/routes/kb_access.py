"""Who may use a knowledge base: its visibility and the users it is shared with (owner or admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import CurrentUser, KbAccessDep
from server.api.schemas.auth import KnowledgeBaseAccessOut, KnowledgeBaseAccessUpdate, Share
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.auth.kb_access import AccessInfo

router = APIRouter(prefix="/knowledge_base", tags=["knowledge base"])
ERRORS: OpenApiResponses = {
    400: {"model": BaseResponse, "description": "Unknown email or bad visibility"},
    403: {"model": BaseResponse, "description": "Not the owner or an admin"},
    404: {"model": BaseResponse, "description": "Unknown knowledge base"},
}


def _out(info: AccessInfo) -> KnowledgeBaseAccessOut:
    return KnowledgeBaseAccessOut(
        knowledge_base_name=info.kb_name,
        owner=info.owner_email,
        visibility=info.visibility,
        shares=[Share(email=email, permission=perm) for _, email, perm in info.shares],
    )


@router.get("/access", response_model=KnowledgeBaseAccessOut, responses=ERRORS)
async def get_access(
    principal: CurrentUser,
    access: KbAccessDep,
    knowledge_base_name: Annotated[str, Query(examples=["samples"])],
) -> KnowledgeBaseAccessOut:
    """Owner, visibility and shares of a knowledge base the caller may read."""
    await access.require_read(principal, knowledge_base_name)
    return _out(await access.describe(knowledge_base_name))


@router.post("/access", response_model=KnowledgeBaseAccessOut, responses=ERRORS)
async def set_access(
    body: KnowledgeBaseAccessUpdate, principal: CurrentUser, access: KbAccessDep
) -> KnowledgeBaseAccessOut:
    """Set visibility (`private`, `shared`, `public`) and the users it is shared with, read or write."""
    await access.require_manage(principal, body.knowledge_base_name)
    shares = {share.email: share.permission for share in body.shares}
    return _out(await access.set_access(body.knowledge_base_name, body.visibility, shares))
