"""Wire models of the MCP connection endpoints and of the agent's tool list.

Secret values (``env``, ``headers``) are write-only: every response shows them as ``********``,
and an update that sends ``********`` back for a key keeps the stored value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from configs.settings import MCP_NAME, McpServerSettings

MASK = "********"
MCP_NAME_PATTERN = MCP_NAME


class McpConnectionIn(McpServerSettings):
    """A connection to add or replace (the same fields as an ``mcp_servers`` entry in settings)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "name": "files",
                    "transport": "stdio",
                    "command": "npx",
                    "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"],
                },
                {
                    "name": "weather",
                    "transport": "streamable-http",
                    "url": "http://127.0.0.1:8000/mcp",
                    "headers": {"Authorization": "Bearer ..."},
                },
            ]
        },
    }


class McpToolOut(BaseModel):
    name: str = Field(description="The agent's name for it: <connection>__<tool>.")
    remote_name: str = Field(description="The name on the MCP server.")
    description: str
    parameters: dict[str, Any]


class McpConnectionOut(BaseModel):
    name: str
    transport: Literal["stdio", "streamable-http", "sse"]
    command: str | None
    args: list[str]
    env: dict[str, str] = Field(description="Keys only; values are masked.")
    url: str | None
    headers: dict[str, str] = Field(description="Keys only; values are masked.")
    timeout: float
    enabled: bool
    allowed_roles: list[str]
    allowed_users: list[str]
    origin: Literal["settings", "database"] = Field(description="settings: read-only here.")
    read_only: bool
    state: Literal["idle", "connecting", "ready", "failed", "stopped", "disabled"]
    error: str | None = Field(None, description="Why it is not connected (secrets masked).")
    tools: list[McpToolOut]


class AgentToolOut(BaseModel):
    """One tool the agent may use, for the tool picker."""

    name: str
    description: str
    source: str = Field(description="'builtin', or the MCP connection it comes from.")
    parameters: dict[str, Any]
