"""Invitations: the only way into an organization (README, "Invitations")."""

from __future__ import annotations

import json
from uuid import UUID

from fastapi import APIRouter, Response

from service.db.queries import invitations as queries
from service.http.deps import IdentityRunner, MemberRunner, State
from service.http.errors import not_found
from service.http.pagination import Cursor, Limit, decode_cursor, page_body
from service.http.responses import problems, raw_json
from service.http.routers.auth import token_out
from service.http.schemas import (
    AcceptInvitationIn,
    InvitationCreated,
    InvitationIn,
    InvitationPage,
    OrganizationRef,
    TokenOut,
)
from service.security.tokens import new_refresh_token

router = APIRouter(prefix="/invitations", tags=["invitations"])


@router.post(
    "", status_code=201, response_model=InvitationCreated, responses=problems(401, 403, 409)
)
async def create_invitation(state: State, tenant: MemberRunner, body: InvitationIn) -> Response:
    token = queries.new_token()
    created = await queries.create(
        tenant, body.email, body.role, token, state.settings.invitation_ttl_seconds
    )
    # The only time the token leaves: the database keeps its digest.
    return raw_json(json.dumps({**json.loads(created), "token": token}), 201)


@router.get("", response_model=InvitationPage, responses=problems(401, 403))
async def list_invitations(
    tenant: MemberRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    after = decode_cursor(cursor)
    return raw_json(page_body(await queries.list_page(tenant, limit, after)))


@router.delete("/{invitation_id}", status_code=204, responses=problems(401, 403, 404))
async def revoke_invitation(tenant: MemberRunner, invitation_id: UUID) -> Response:
    if await queries.revoke(tenant, invitation_id):
        return Response(status_code=204)
    raise not_found("Invitation")


# Any signed-in user: the invitee is not a member of the token's
# organization (or of any organization) yet.
@router.post("/accept", response_model=TokenOut, responses=problems(401, 404))
async def accept_invitation(
    state: State, tenant: IdentityRunner, body: AcceptInvitationIn
) -> TokenOut:
    refresh_token = new_refresh_token()
    joined = await queries.accept(tenant, body.token, refresh_token)
    if joined is None:
        raise not_found("Invitation")
    return token_out(
        state,
        user_id=tenant.user_id,
        organization=OrganizationRef(id=joined.organization_id, name=joined.organization_name),
        role=joined.role,
        session_id=tenant.session_id,
        refresh_token=refresh_token,
        session_expires_at=joined.session_expires_at,
    )
