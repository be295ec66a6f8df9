"""Members of the active organization. Nobody is added here: members join by
accepting an invitation (service/http/routers/invitations.py)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response

from service.db.queries import members as queries
from service.http.deps import MemberRunner
from service.http.errors import forbidden, not_found
from service.http.openapi import ADMIN, ANY_MEMBER, TENANT, operation
from service.http.pagination import Cursor, Limit
from service.http.problem_types import FORBIDDEN, LAST_ADMIN, NOT_FOUND
from service.http.responses import cursors, raw_json
from service.http.schemas import MemberOut, MemberPage, MemberPatch

router = APIRouter(prefix="/members", tags=["members"])
LIST = "members"


@router.get(
    "",
    response_model=MemberPage,
    **operation(
        "listMembers",
        "List members",
        ANY_MEMBER,
        "The organization's members with their roles, newest first, one page at a time.",
        *TENANT,
    ),
)
async def list_members(
    request: Request, tenant: MemberRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    codec = cursors(request)
    after = codec.decode(LIST, cursor)
    return raw_json(codec.page_body(LIST, await queries.list_page(tenant, limit, after)))


@router.patch(
    "/{user_id}",
    response_model=MemberOut,
    **operation(
        "changeMemberRole",
        "Change a member's role",
        ADMIN,
        "Gives the member another role. Demoting the last ORG_ADMIN is refused.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
        LAST_ADMIN,
    ),
)
async def change_member_role(tenant: MemberRunner, user_id: UUID, body: MemberPatch) -> Response:
    member, visible = await queries.change_role(tenant, user_id, body.role)
    if member is not None:
        return raw_json(member)
    raise forbidden() if visible else not_found("Member")


@router.delete(
    "/{user_id}",
    status_code=204,
    **operation(
        "removeMember",
        "Remove a member",
        "ORG_ADMIN to remove anyone; any member to remove themselves (leave).",
        "Removes the member from the organization. Removing the last ORG_ADMIN is refused.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
        LAST_ADMIN,
    ),
)
async def remove_member(tenant: MemberRunner, user_id: UUID) -> Response:
    removed, visible = await queries.remove(tenant, user_id)
    if removed:
        return Response(status_code=204)
    raise forbidden() if visible else not_found("Member")
