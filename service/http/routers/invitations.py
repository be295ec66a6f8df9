"""Invitations: the only way into an organization (README, "Joining: invitations and consent")."""

from __future__ import annotations

import json
from uuid import UUID

from fastapi import APIRouter, Request, Response

from service.db.queries import invitations as queries
from service.http.deps import IdentityRunner, MemberRunner, State
from service.http.errors import not_found
from service.http.openapi import ADMIN, SIGNED_IN, TENANT, operation
from service.http.pagination import Cursor, Limit
from service.http.problem_types import (
    ALREADY_MEMBER,
    CONCURRENT_CHANGE,
    FORBIDDEN,
    INVITATION_NOT_FOUND,
    INVITATION_PENDING,
    NOT_FOUND,
    TOO_MANY_INVITATIONS,
    UNAUTHORIZED,
)
from service.http.responses import cursors, raw_json
from service.http.routers.auth import token_out
from service.http.schemas import (
    AcceptInvitationIn,
    InvitationCreated,
    InvitationIn,
    InvitationOut,
    InvitationPage,
    OrganizationRef,
    TokenOut,
)
from service.security.tokens import new_refresh_token

router = APIRouter(prefix="/invitations", tags=["invitations"])
LIST = "invitations"


@router.post(
    "",
    status_code=201,
    response_model=InvitationCreated,
    **operation(
        "createInvitation",
        "Invite someone",
        ADMIN,
        "Invites an email to join the token's organization with a role. The answer carries"
        " the invitation's token, once: deliver it to the invitee, who accepts it signed in"
        " with that email (`POST /invitations/accept`) or registers with it. It expires"
        " after `INVITATION_TTL_SECONDS`; an organization has at most 100 pending.",
        *TENANT,
        FORBIDDEN,
        ALREADY_MEMBER,
        INVITATION_PENDING,
        TOO_MANY_INVITATIONS,
    ),
)
async def create_invitation(state: State, tenant: MemberRunner, body: InvitationIn) -> Response:
    token = queries.new_token()
    created = json.loads(
        await queries.create(
            tenant, body.email, body.role, token, state.settings.invitation_ttl_seconds
        )
    )
    # The only time the token leaves: the database keeps its digest.
    return raw_json(
        json.dumps({**created, "token": token}), 201, location=f"/invitations/{created['id']}"
    )


@router.get(
    "",
    response_model=InvitationPage,
    **operation(
        "listInvitations",
        "List pending invitations",
        ADMIN,
        "The organization's pending invitations, newest first, one page at a time. Tokens"
        " are never shown again.",
        *TENANT,
        FORBIDDEN,
    ),
)
async def list_invitations(
    request: Request, tenant: MemberRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    codec = cursors(request)
    after = codec.decode(LIST, cursor)
    return raw_json(codec.page_body(LIST, await queries.list_page(tenant, limit, after)))


@router.get(
    "/{invitation_id}",
    response_model=InvitationOut,
    **operation(
        "getInvitation",
        "Get a pending invitation",
        ADMIN,
        "One pending invitation of the organization, without its token. An accepted,"
        " revoked or expired invitation is no longer found.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
    ),
)
async def get_invitation(tenant: MemberRunner, invitation_id: UUID) -> Response:
    invitation = await queries.get_pending(tenant, invitation_id)
    if invitation is None:
        raise not_found("Invitation")
    return raw_json(invitation)


@router.delete(
    "/{invitation_id}",
    status_code=204,
    **operation(
        "revokeInvitation",
        "Revoke an invitation",
        ADMIN,
        "Revokes a pending invitation: its token can no longer be accepted.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
    ),
)
async def revoke_invitation(tenant: MemberRunner, invitation_id: UUID) -> Response:
    if await queries.revoke(tenant, invitation_id):
        return Response(status_code=204)
    raise not_found("Invitation")


# Any signed-in user: the invitee is not a member of the token's
# organization (or of any organization) yet.
@router.post(
    "/accept",
    response_model=TokenOut,
    **operation(
        "acceptInvitation",
        "Accept an invitation",
        SIGNED_IN,
        "The caller joins the inviting organization with the invited role; the caller's"
        " email must be the invited one. The session moves to that organization and its"
        " refresh token rotates, as switching organization does. Any unusable token"
        " (unknown, expired, revoked, used, another email's) gets one 404.",
        UNAUTHORIZED,
        INVITATION_NOT_FOUND,
        CONCURRENT_CHANGE,
    ),
)
async def accept_invitation(
    state: State, tenant: IdentityRunner, body: AcceptInvitationIn
) -> TokenOut:
    refresh_token = new_refresh_token()
    joined = await queries.accept(tenant, body.token, refresh_token)
    if joined is None:
        raise INVITATION_NOT_FOUND.problem()
    return token_out(
        state,
        user_id=tenant.user_id,
        organization=OrganizationRef(id=joined.organization_id, name=joined.organization_name),
        role=joined.role,
        session_id=tenant.session_id,
        refresh_token=refresh_token,
        session_expires_at=joined.session_expires_at,
    )
