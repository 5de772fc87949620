"""MCP tool servers: admins connect them (``/mcp/connections``); every agent user sees their tools
(``/agent/tools``, the agent's tool picker)."""

from __future__ import annotations

from fastapi import APIRouter, Path

from server.api.access import AdminDep, CallerDep
from server.api.deps import AgentServiceDep, KnowledgeSearcherDep, McpServiceDep
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.mcp import MCP_NAME_PATTERN, AgentToolOut, McpConnectionIn

router = APIRouter(tags=["mcp"])
ConnectionName = Path(..., pattern=MCP_NAME_PATTERN, description="Connection name")
RESPONSES: OpenApiResponses = {
    403: {"model": BaseResponse, "description": "Not an admin, or a connection defined in settings"},
    404: {"model": BaseResponse, "description": "Unknown connection"},
    409: {"model": BaseResponse, "description": "The name is taken"},
}


@router.get("/mcp/connections", response_model=BaseResponse, responses=RESPONSES)
async def list_connections(service: McpServiceDep, _: AdminDep) -> BaseResponse:
    """Every MCP connection (from settings, read-only, and added here) with its state and tools.

    Secret values in `env` and `headers` are always shown as `********`.
    """
    return BaseResponse(data=[c.model_dump(mode="json") for c in service.list()])


@router.post("/mcp/connections", response_model=BaseResponse, responses=RESPONSES)
async def add_connection(body: McpConnectionIn, service: McpServiceDep, caller: AdminDep) -> BaseResponse:
    """Add a connection and connect it; the answer says whether it connected and lists its tools.

    A stdio connection runs `command` on this server as the backend's user: it can do anything
    that user can. Only add commands you would run yourself.
    """
    created = await service.create(body, caller)
    return BaseResponse(msg=f"MCP connection {body.name} added", data=created.model_dump(mode="json"))


@router.put("/mcp/connections/{name}", response_model=BaseResponse, responses=RESPONSES)
async def replace_connection(
    body: McpConnectionIn, service: McpServiceDep, _: AdminDep, name: str = ConnectionName
) -> BaseResponse:
    """Replace a connection's fields (a secret sent back as `********` keeps its value) and reconnect."""
    updated = await service.update(name, body)
    return BaseResponse(msg=f"MCP connection {name} updated", data=updated.model_dump(mode="json"))


@router.delete("/mcp/connections/{name}", response_model=BaseResponse, responses=RESPONSES)
async def delete_connection(service: McpServiceDep, _: AdminDep, name: str = ConnectionName) -> BaseResponse:
    """Remove a connection; a stdio server's process is stopped."""
    await service.delete(name)
    return BaseResponse(msg=f"MCP connection {name} deleted")


@router.post("/mcp/connections/{name}/reconnect", response_model=BaseResponse, responses=RESPONSES)
async def reconnect(service: McpServiceDep, _: AdminDep, name: str = ConnectionName) -> BaseResponse:
    """Connect again now (e.g. after the server was fixed) and list its tools afresh."""
    return BaseResponse(data=(await service.reconnect(name)).model_dump(mode="json"))


@router.get("/agent/tools", response_model=BaseResponse)
async def agent_tools(
    agent: AgentServiceDep, knowledge: KnowledgeSearcherDep, caller: CallerDep
) -> BaseResponse:
    """The tools the agent may use for this caller: built-in ones and those of reachable MCP servers."""
    toolbox = await agent.toolbox(knowledge, caller)
    tools = [
        AgentToolOut(name=t.name, description=t.description, source=t.source, parameters=t.parameters())
        for t in toolbox.tools.values()
    ]
    return BaseResponse(data=[t.model_dump() for t in tools])
