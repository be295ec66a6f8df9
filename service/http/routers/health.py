"""Liveness and readiness (CONTRACT §4, Operations)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service import __version__
from service.db.queries.health import applied_migration
from service.db.runner import anon_transaction
from service.http.deps import State
from service.http.errors import Problem
from service.http.schemas import Health, Liveness

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Liveness)
async def healthz() -> Liveness:
    """200 while the process runs, with the release it runs; it never touches the database."""
    return Liveness(status="ok", version=__version__)


@router.get("/readyz", response_model=Health, responses={503: {"description": "Not ready"}})
async def readyz(state: State) -> JSONResponse:
    """200 when the database answers and its schema is at the newest migration this API ships."""
    try:
        async with anon_transaction(state.pool, 2000) as conn:
            applied = await applied_migration(conn)
    except Exception:
        raise Problem(503, "The database is unavailable.") from None
    if state.latest_migration is not None and applied != state.latest_migration:
        raise Problem(503, "The database schema is not at the latest migration.")
    return JSONResponse({"status": "ready"})
