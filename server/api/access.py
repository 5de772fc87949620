"""Who is calling, and whether they may administer: the one place the MCP routes ask.

Accounts are not part of this tree yet, so every caller is the single user, who administers
everything (the documented ``auth.enabled: false`` mode). When accounts arrive, these two
dependencies are all that changes: ``current_caller`` maps the signed-in user to a
:class:`Caller` (name and role), and ``require_admin`` refuses anyone whose role is not admin.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.agent.mcp.registry import ADMIN, Caller
from server.api.errors import Forbidden


async def current_caller(request: Request) -> Caller | None:
    """The signed-in user; None in single-user mode (no accounts), where the user is the admin."""
    caller = getattr(request.state, "caller", None)
    return caller if isinstance(caller, Caller) else None


CallerDep = Annotated[Caller | None, Depends(current_caller)]


async def require_admin(caller: CallerDep) -> Caller | None:
    if caller is not None and caller.role != ADMIN:
        raise Forbidden("only an admin may manage MCP connections")
    return caller


AdminDep = Annotated[Caller | None, Depends(require_admin)]
