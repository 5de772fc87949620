"""Who is calling, and whether they may administer: the one place the MCP routes ask.

Both come from the accounts dependencies of :mod:`server.api.deps` (every route already checked
the token or key, and refused a pending account, before these run). ``current_caller`` maps the
signed-in user to the agent's :class:`Caller` (email as the name, role), which the MCP registry
matches against a connection's ``allowed_roles`` / ``allowed_users``; in single-user mode
(``auth.enabled: false``) it is None, and that user administers everything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from server.agent.mcp.registry import Caller
from server.api.deps import AdminUser, CurrentUser
from server.auth.principal import Principal


def caller_of(principal: Principal) -> Caller | None:
    """The agent's view of a principal; None for the single-user mode's local caller."""
    return None if principal.unrestricted else Caller(name=principal.email, role=principal.role)


async def current_caller(principal: CurrentUser) -> Caller | None:
    """The signed-in user; None in single-user mode (no accounts), where the user is the admin."""
    return caller_of(principal)


CallerDep = Annotated[Caller | None, Depends(current_caller)]


async def require_admin(principal: AdminUser) -> Caller | None:
    """The caller, when an admin (403 for anyone else: the accounts' own admin check)."""
    return caller_of(principal)


AdminDep = Annotated[Caller | None, Depends(require_admin)]
