"""The caller's organizations, and the lifecycle of the active one (docs/api.md)."""

from __future__ import annotations

import json
from uuid import UUID

from fastapi import APIRouter, Request, Response

from service.db.queries import organizations as queries
from service.http.deps import CallerRunner, IdentityRunner, MemberRunner, State
from service.http.errors import forbidden, not_found, too_many_requests
from service.http.openapi import (
    ADMIN,
    ADMIN_OR_NO_ORGANIZATION,
    ANY_MEMBER,
    SIGNED_IN,
    TENANT,
    operation,
)
from service.http.pagination import Cursor, Limit
from service.http.problem_types import (
    FORBIDDEN,
    NOT_A_MEMBER,
    NOT_FOUND,
    ORGANIZATION_QUOTA,
    UNAUTHORIZED,
)
from service.http.responses import cursors, raw_json
from service.http.schemas import (
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationPatch,
)

router = APIRouter(prefix="/organizations", tags=["organizations"])
LIST = "organizations"


# Any organization the caller belongs to, so IdentityRunner: a member removed
# from the token's organization can still find their others.
@router.get(
    "",
    response_model=OrganizationPage,
    **operation(
        "listOrganizations",
        "List the caller's organizations",
        SIGNED_IN,
        "Every organization the caller belongs to, with the caller's role in each, newest"
        " first. Switch to one with `POST /auth/switch-organization`.",
        UNAUTHORIZED,
    ),
)
async def list_organizations(
    request: Request, tenant: IdentityRunner, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    codec = cursors(request)
    after = codec.decode(LIST, cursor)
    return raw_json(codec.page_body(LIST, await queries.list_page(tenant, limit, after)))


@router.post(
    "",
    status_code=201,
    response_model=OrganizationOut,
    **operation(
        "createOrganization",
        "Create an organization",
        ADMIN_OR_NO_ORGANIZATION,
        "Creates a new organization whose ORG_ADMIN is the caller. The token stays on its"
        " organization; switch to the new one with `POST /auth/switch-organization`."
        " A user may create a limited number of organizations per sliding hour; past it,"
        " 429 with `Retry-After`, and nothing is created.",
        UNAUTHORIZED,
        NOT_A_MEMBER,
        FORBIDDEN,
        ORGANIZATION_QUOTA,
    ),
)
# An ORG_ADMIN of the token's organization, or a user who belongs to none
# (a token without an organization): the database decides which.
async def create_organization(state: State, tenant: CallerRunner, body: OrganizationIn) -> Response:
    wait, created = await queries.create(
        tenant, body.name, state.settings.organization_create_per_hour
    )
    if wait or created is None:
        raise too_many_requests(max(wait, 1), ORGANIZATION_QUOTA)
    return raw_json(created, 201, location=f"/organizations/{json.loads(created)['id']}")


# GET, PATCH and DELETE act on the token's active organization; the policies
# show no other, so any other id is 404.
@router.get(
    "/{organization_id}",
    response_model=OrganizationOut,
    **operation(
        "getOrganization",
        "Get the organization",
        ANY_MEMBER,
        "The token's organization. Any other id is 404, whether or not it exists.",
        *TENANT,
        NOT_FOUND,
    ),
)
async def get_organization(tenant: MemberRunner, organization_id: UUID) -> Response:
    found = await queries.get(tenant, organization_id)
    if found is None:
        raise not_found("Organization")
    return raw_json(found)


@router.patch(
    "/{organization_id}",
    response_model=OrganizationOut,
    **operation(
        "renameOrganization",
        "Rename the organization",
        ADMIN,
        "Gives the token's organization a new name. Any other id is 404.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
    ),
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
@router.delete(
    "/{organization_id}",
    status_code=204,
    **operation(
        "deleteOrganization",
        "Remove the organization",
        ADMIN,
        "Deletes the token's organization with its memberships, projects and invitations,"
        " in one transaction. Its members' tokens get 403 `not-a-member` from the next"
        " request on. Any other id is 404.",
        *TENANT,
        FORBIDDEN,
        NOT_FOUND,
    ),
)
async def delete_organization(tenant: MemberRunner, organization_id: UUID) -> Response:
    deleted, visible = await queries.delete(tenant, organization_id)
    if deleted:
        return Response(status_code=204)
    raise forbidden() if visible else not_found("Organization")
