"""Members of the active organization. Nobody is added here: members join by
accepting an invitation (service/http/routers/invitations.py)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from service.db.queries import members as queries
from service.http.deps import MemberRunner
from service.http.errors import forbidden, not_found
from service.http.pagination import Cursor, Limit, decode_cursor, page_body
from service.http.responses import problems, raw_json
from service.http.schemas import MemberOut, MemberPage, MemberPatch

router = APIRouter(prefix="/members", tags=["members"])


@router.get("", response_model=MemberPage, responses=problems(401, 403))
async def list_members(tenant: MemberRunner, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor)
    return raw_json(page_body(await queries.list_page(tenant, limit, after)))


@router.patch("/{user_id}", response_model=MemberOut, responses=problems(401, 403, 404, 409))
async def change_member_role(tenant: MemberRunner, user_id: UUID, body: MemberPatch) -> Response:
    member, visible = await queries.change_role(tenant, user_id, body.role)
    if member is not None:
        return raw_json(member)
    raise forbidden() if visible else not_found("Member")


@router.delete("/{user_id}", status_code=204, responses=problems(401, 403, 404, 409))
async def remove_member(tenant: MemberRunner, user_id: UUID) -> Response:
    removed, visible = await queries.remove(tenant, user_id)
    if removed:
        return Response(status_code=204)
    raise forbidden() if visible else not_found("Member")
