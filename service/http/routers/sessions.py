"""Staying signed in, signing out, and the caller's sessions (docs/sessions.md)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from service.db.queries import sessions as queries
from service.db.runner import anon_transaction
from service.http.deps import IdentityRunner, State
from service.http.errors import not_found, unauthorized
from service.http.pagination import Cursor, Limit, decode_cursor, page_body
from service.http.responses import problems, raw_json
from service.http.routers.auth import token_out
from service.http.schemas import OrganizationRef, RefreshIn, SessionPage, TokenOut
from service.security.tokens import new_refresh_token

router = APIRouter(prefix="/auth", tags=["sessions"])


@router.post("/refresh", response_model=TokenOut, responses=problems(401))
async def refresh(state: State, body: RefreshIn) -> TokenOut:
    new_token = new_refresh_token()
    # The database decides in one call: this token rotates, or it was spent
    # already (its whole session ends), or it is unknown or expired.
    async with anon_transaction(state.pool, state.settings.database_statement_timeout_ms) as conn:
        rotated = await queries.refresh(conn, body.refresh_token, new_token)
    if rotated is None:
        raise unauthorized("Invalid or expired refresh token.")
    organization = (
        None
        if rotated.organization_id is None or rotated.organization_name is None
        else OrganizationRef(id=rotated.organization_id, name=rotated.organization_name)
    )
    return token_out(
        state,
        user_id=rotated.user_id,
        organization=organization,
        role=rotated.role,
        session_id=rotated.session_id,
        refresh_token=new_token,
        session_expires_at=rotated.expires_at,
    )


@router.post("/logout", status_code=204, responses=problems(401))
async def logout(tenant: IdentityRunner) -> Response:
    await queries.end_current(tenant)
    return Response(status_code=204)


@router.get("/sessions", response_model=SessionPage, responses=problems(401))
async def list_sessions(
    tenant: IdentityRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    after = decode_cursor(cursor)
    return raw_json(page_body(await queries.list_page(tenant, limit, after)))


@router.delete("/sessions/{session_id}", status_code=204, responses=problems(401, 404))
async def end_session(tenant: IdentityRunner, session_id: UUID) -> Response:
    if not await queries.end(tenant, session_id):
        raise not_found("Session")
    return Response(status_code=204)
