from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from server.api.deps import ConversationServiceDep, CurrentUser
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.conversation import (
    ID_PATTERN,
    ConversationCreate,
    ConversationOut,
    ConversationRename,
    MessageOut,
)
from server.api.services.conversation_service import owner_of

router = APIRouter(prefix="/conversations", tags=["conversations"])
ConversationId = Path(..., pattern=ID_PATTERN, description="Conversation id")
MessageId = Path(..., pattern=ID_PATTERN, description="Message id (the first one to delete)")
NOT_FOUND: OpenApiResponses = {404: {"model": BaseResponse, "description": "Unknown conversation"}}


@router.get("", response_model=BaseResponse)
async def list_conversations(
    conversations: ConversationServiceDep,
    principal: CurrentUser,
    q: str = Query("", max_length=200, description="Keep those whose name or messages contain this text."),
) -> BaseResponse:
    """Conversations, most recently active first; with `q`, only those whose name or messages match."""
    rows = await conversations.list(owner_of(principal), search=q.strip())
    return BaseResponse(data=[ConversationOut.model_validate(r).model_dump(mode="json") for r in rows])


@router.post("", response_model=BaseResponse)
async def create_conversation(
    body: ConversationCreate, conversations: ConversationServiceDep, principal: CurrentUser
) -> BaseResponse:
    created = await conversations.create(body.name, body.chat_type, owner=owner_of(principal))
    return BaseResponse(data=ConversationOut.model_validate(created).model_dump(mode="json"))


@router.patch("/{conversation_id}", response_model=BaseResponse, responses=NOT_FOUND)
async def rename_conversation(
    body: ConversationRename,
    conversations: ConversationServiceDep,
    principal: CurrentUser,
    conversation_id: str = ConversationId,
) -> BaseResponse:
    """Rename it, or store the client's settings for it (both at once is fine)."""
    renamed = await conversations.rename(conversation_id, body.name, owner_of(principal), body.settings)
    return BaseResponse(data=ConversationOut.model_validate(renamed).model_dump(mode="json"))


@router.delete("/{conversation_id}", response_model=BaseResponse, responses=NOT_FOUND)
async def delete_conversation(
    conversations: ConversationServiceDep, principal: CurrentUser, conversation_id: str = ConversationId
) -> BaseResponse:
    await conversations.delete(conversation_id, owner_of(principal))
    return BaseResponse(msg=f"conversation {conversation_id} deleted")


@router.get("/{conversation_id}/messages", response_model=BaseResponse, responses=NOT_FOUND)
async def list_messages(
    conversations: ConversationServiceDep, principal: CurrentUser, conversation_id: str = ConversationId
) -> BaseResponse:
    """The conversation's exchanges, oldest first."""
    rows = await conversations.messages(conversation_id, owner=owner_of(principal))
    return BaseResponse(data=[MessageOut.model_validate(r).model_dump(mode="json") for r in rows])


@router.delete(
    "/{conversation_id}/messages/{message_id}",
    response_model=BaseResponse,
    responses=NOT_FOUND,
)
async def truncate_messages(
    conversations: ConversationServiceDep,
    principal: CurrentUser,
    conversation_id: str = ConversationId,
    message_id: str = MessageId,
) -> BaseResponse:
    """Delete this exchange and all later ones (to regenerate an answer or edit and resend a question)."""
    deleted = await conversations.truncate(conversation_id, message_id, owner_of(principal))
    return BaseResponse(msg=f"{deleted} message(s) deleted", data={"deleted": deleted})


@router.get(
    "/{conversation_id}/export",
    responses={200: {"content": {"text/markdown": {}}}, **NOT_FOUND},
    response_class=Response,
)
async def export_conversation(
    conversations: ConversationServiceDep, principal: CurrentUser, conversation_id: str = ConversationId
) -> Response:
    """The conversation as a Markdown file."""
    name, markdown = await conversations.export_markdown(conversation_id, owner_of(principal))
    filename = quote(f"{name[:80]}.md")
    return Response(
        markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )
