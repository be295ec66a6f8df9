"""The caller's organizations, and the lifecycle of the active one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from service.db.queries import organizations as queries
from service.http.deps import CallerRunner, IdentityRunner, MemberRunner, State
from service.http.errors import forbidden, not_found, too_many_requests
from service.http.pagination import Cursor, Limit, decode_cursor, page_body
from service.http.responses import problems, raw_json
from service.http.schemas import (
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationPatch,
)

router = APIRouter(prefix="/organizations", tags=["organizations"])


# Any organization the caller belongs to, so IdentityRunner: a member removed
# from the token's organization can still find their others.
@router.get("", response_model=OrganizationPage, responses=problems(401))
async def list_organizations(
    tenant: IdentityRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    after = decode_cursor(cursor)
    return raw_json(page_body(await queries.list_page(tenant, limit, after)))


# An ORG_ADMIN of the token's organization, or a user who belongs to none
# (a token without an organization): the database decides which.
@router.post("", status_code=201, response_model=OrganizationOut, responses=problems(401, 403, 429))
async def create_organization(state: State, tenant: CallerRunner, body: OrganizationIn) -> Response:
    wait, created = await queries.create(
        tenant, body.name, state.settings.organization_create_per_hour
    )
    if wait or created is None:
        raise too_many_requests(max(wait, 1))
    return raw_json(created, 201)


# GET, PATCH and DELETE act on the token's active organization; the policies
# show no other, so any other id is 404.
@router.get("/{organization_id}", response_model=OrganizationOut, responses=problems(401, 403, 404))
async def get_organization(tenant: MemberRunner, organization_id: UUID) -> Response:
    found = await queries.get(tenant, organization_id)
    if found is None:
        raise not_found("Organization")
    return raw_json(found)


@router.patch(
    "/{organization_id}", response_model=OrganizationOut, responses=problems(401, 403, 404)
)
async def rename_organization(
    tenant: MemberRunner, organization_id: UUID, body: OrganizationPatch
) -> Response:
    renamed, visible = await queries.rename(tenant, organization_id, body.name)
    if renamed is not None:
        return raw_json(renamed)
    raise forbidden() if visible else not_found("Organization")


# Everything the organization owns goes with it, in one transaction; the
# tokens of its members get 403 on their next request.
@router.delete("/{organization_id}", status_code=204, responses=problems(401, 403, 404))
async def delete_organization(tenant: MemberRunner, organization_id: UUID) -> Response:
    deleted, visible = await queries.delete(tenant, organization_id)
    if deleted:
        return Response(status_code=204)
    raise forbidden() if visible else not_found("Organization")
