"""MCP connections as the API sees them: stored ones added and changed by admins, configured ones
read-only, each shown with its state and tools and never with a secret."""

from __future__ import annotations

from server.agent.mcp.connection import MASK, Connection, ServerSpec
from server.agent.mcp.registry import Caller, McpRegistry
from server.agent.mcp.store import McpStore, NameTaken
from server.agent.mcp.tool import tool_description, tool_name, tool_parameters
from server.api.errors import Conflict, Forbidden, NotFound
from server.api.schemas.mcp import McpConnectionIn, McpConnectionOut, McpToolOut


def spec_from_request(body: McpConnectionIn, previous: ServerSpec | None = None) -> ServerSpec:
    """The stored form; a secret sent back masked keeps its stored value."""
    kept_env = dict(previous.env) if previous else {}
    kept_headers = dict(previous.headers) if previous else {}

    def secrets(given: dict, kept: dict[str, str]) -> tuple[tuple[str, str], ...]:
        values = {key: value.get_secret_value() for key, value in given.items()}
        return tuple((k, kept.get(k, "") if v == MASK else v) for k, v in values.items())

    return ServerSpec(
        name=body.name,
        transport=body.transport,
        command=body.command if body.transport == "stdio" else None,
        args=tuple(body.args) if body.transport == "stdio" else (),
        env=secrets(body.env, kept_env),
        url=body.url if body.transport != "stdio" else None,
        headers=secrets(body.headers, kept_headers),
        timeout=body.timeout,
        enabled=body.enabled,
        allowed_roles=tuple(body.allowed_roles),
        allowed_users=tuple(body.allowed_users),
        origin="database",
    )


def connection_out(spec: ServerSpec, connection: Connection | None) -> McpConnectionOut:
    state = "disabled" if not spec.enabled else (connection.state if connection is not None else "idle")
    tools = connection.tools if connection is not None and connection.state == "ready" else []
    return McpConnectionOut(
        name=spec.name,
        transport=spec.transport,
        command=spec.command,
        args=list(spec.args),
        env={key: MASK for key, _ in spec.env},
        url=spec.endpoint if spec.transport != "stdio" else None,
        headers={key: MASK for key, _ in spec.headers},
        timeout=spec.timeout,
        enabled=spec.enabled,
        allowed_roles=list(spec.allowed_roles),
        allowed_users=list(spec.allowed_users),
        origin=spec.origin,
        read_only=spec.origin == "settings",
        state=state,  # type: ignore[arg-type]
        error=connection.error if connection is not None and spec.enabled else None,
        tools=[
            McpToolOut(
                name=tool_name(spec.name, info.name),
                remote_name=info.name,
                description=tool_description(info),
                parameters=tool_parameters(info),
            )
            for info in tools
        ],
    )


class McpService:
    def __init__(self, store: McpStore, registry: McpRegistry) -> None:
        self._store = store
        self.registry = registry

    def list(self) -> list[McpConnectionOut]:
        return [connection_out(spec, self.registry.connection(spec.name)) for spec in self.registry.specs()]

    def get(self, name: str) -> McpConnectionOut:
        spec = self.registry.spec(name)
        if spec is None:
            raise NotFound(f"no MCP connection named {name!r}")
        return connection_out(spec, self.registry.connection(name))

    def _stored(self, name: str) -> ServerSpec:
        spec = self.registry.spec(name)
        if spec is None:
            raise NotFound(f"no MCP connection named {name!r}")
        if spec.origin == "settings":
            raise Forbidden(f"MCP connection {name!r} is defined in the settings file; change it there")
        return spec

    async def create(self, body: McpConnectionIn, caller: Caller | None) -> McpConnectionOut:
        if self.registry.spec(body.name) is not None:
            raise Conflict(f"an MCP connection named {body.name!r} already exists")
        spec = spec_from_request(body)
        try:
            await self._store.add(spec, caller.name if caller else None)
        except NameTaken as exc:
            raise Conflict(f"an MCP connection named {body.name!r} already exists") from exc
        await self.registry.put(spec)
        connection = self.registry.connection(spec.name)
        if connection is not None:
            await connection.ready()  # the answer says at once whether it connects
        return self.get(spec.name)

    async def update(self, name: str, body: McpConnectionIn) -> McpConnectionOut:
        previous = self._stored(name)
        if body.name != name:
            raise Conflict(f"the name cannot change ({name!r} → {body.name!r}); delete and add instead")
        spec = spec_from_request(body, previous)
        if not await self._store.update(spec):
            raise NotFound(f"no MCP connection named {name!r}")
        await self.registry.put(spec)
        connection = self.registry.connection(name)
        if connection is not None:
            await connection.ready()
        return self.get(name)

    async def delete(self, name: str) -> None:
        self._stored(name)
        await self._store.delete(name)
        await self.registry.remove(name)

    async def reconnect(self, name: str) -> McpConnectionOut:
        if self.registry.spec(name) is None:
            raise NotFound(f"no MCP connection named {name!r}")
        await self.registry.reconnect(name)
        return self.get(name)
