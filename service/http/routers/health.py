"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service import __version__
from service.db.queries.health import applied_migration
from service.db.runner import anon_transaction
from service.http.deps import State
from service.http.openapi import PUBLIC, operation
from service.http.problem_types import UNAVAILABLE
from service.http.schemas import Health, Liveness

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Liveness,
    operation_id="getHealth",
    summary="Liveness",
    description="200 while the process runs, with the release it runs; it never touches"
    f" the database.\n\n**Role needed:** {PUBLIC}",
)
async def healthz() -> Liveness:
    return Liveness(status="ok", version=__version__)


_READY = operation(
    "getReadiness",
    "Readiness",
    PUBLIC,
    "200 when the database answers and its schema is at the newest migration this API"
    " ships; 503 otherwise.",
)
# No input to refuse: the only problem it answers with is 503.
_READY["responses"] = {503: _READY["responses"][503]}


@router.get("/readyz", response_model=Health, **_READY)
async def readyz(state: State) -> JSONResponse:
    try:
        async with anon_transaction(state.pool, 2000) as conn:
            applied = await applied_migration(conn)
    except Exception:
        raise UNAVAILABLE.problem() from None
    if state.latest_migration is not None and applied != state.latest_migration:
        raise UNAVAILABLE.problem("The database schema is not at the latest migration.")
    return JSONResponse({"status": "ready"})
