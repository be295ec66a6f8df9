"""Staying signed in, signing out, and the caller's sessions (docs/sessions.md)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response

from service.db.queries import sessions as queries
from service.db.runner import anon_transaction
from service.http.deps import IdentityRunner, State
from service.http.errors import not_found, unauthorized
from service.http.openapi import PUBLIC, SIGNED_IN, operation
from service.http.pagination import Cursor, Limit
from service.http.problem_types import INVALID_REFRESH_TOKEN, NOT_FOUND, UNAUTHORIZED
from service.http.responses import cursors, raw_json
from service.http.routers.auth import token_out
from service.http.schemas import OrganizationRef, RefreshIn, SessionPage, TokenOut
from service.security.tokens import new_refresh_token

router = APIRouter(prefix="/auth", tags=["sessions"])

LIST = "sessions"


@router.post(
    "/refresh",
    response_model=TokenOut,
    **operation(
        "refreshTokens",
        "Refresh tokens",
        PUBLIC + " The refresh token in the body is the credential.",
        "Exchanges a refresh token for a new access token and a new refresh token (the old"
        " one is spent). A refresh token used twice ends its whole session.",
        INVALID_REFRESH_TOKEN,
    ),
)
async def refresh(state: State, body: RefreshIn) -> TokenOut:
    new_token = new_refresh_token()
    # The database decides in one call: this token rotates, or it was spent
    # already (its whole session ends), or it is unknown or expired.
    async with anon_transaction(state.pool, state.settings.database_statement_timeout_ms) as conn:
        rotated = await queries.refresh(conn, body.refresh_token, new_token)
    if rotated is None:
        raise unauthorized(INVALID_REFRESH_TOKEN.example, INVALID_REFRESH_TOKEN)
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


@router.post(
    "/logout",
    status_code=204,
    **operation(
        "logout",
        "Log out",
        SIGNED_IN,
        "Ends the session of the calling token: its access tokens and refresh token stop working.",
        UNAUTHORIZED,
    ),
)
async def logout(tenant: IdentityRunner) -> Response:
    await queries.end_current(tenant)
    return Response(status_code=204)


@router.get(
    "/sessions",
    response_model=SessionPage,
    **operation(
        "listSessions",
        "List the caller's sessions",
        SIGNED_IN,
        "The caller's open sessions, newest first; `current` marks the calling token's.",
        UNAUTHORIZED,
    ),
)
async def list_sessions(
    request: Request, tenant: IdentityRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    codec = cursors(request)
    after = codec.decode(LIST, cursor)
    return raw_json(codec.page_body(LIST, await queries.list_page(tenant, limit, after)))


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    **operation(
        "endSession",
        "End a session",
        SIGNED_IN,
        "Ends one of the caller's sessions (another device, or this one).",
        UNAUTHORIZED,
        NOT_FOUND,
    ),
)
async def end_session(tenant: IdentityRunner, session_id: UUID) -> Response:
    if not await queries.end(tenant, session_id):
        raise not_found("Session")
    return Response(status_code=204)
