from __future__ import annotations

from fastapi import APIRouter

from server.api.schemas.common import HealthResponse
from server.version import __version__

router = APIRouter(tags=["server"])


@router.get("/health", response_model=HealthResponse)
async def health() -> HealthResponse:
    """Liveness: the backend answers. The launcher waits on this before starting the web UI."""
    return HealthResponse(status="ok", version=__version__)
