"""The caller's organizations (docs/api.md)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from service.db.queries import organizations as queries
from service.http.deps import CallerRunner, IdentityRunner, State
from service.http.errors import too_many_requests
from service.http.openapi import ADMIN_OR_NO_ORGANIZATION, SIGNED_IN, operation
from service.http.pagination import Cursor, Limit
from service.http.problem_types import FORBIDDEN, NOT_A_MEMBER, ORGANIZATION_QUOTA, UNAUTHORIZED
from service.http.responses import cursors, raw_json
from service.http.schemas import OrganizationIn, OrganizationOut, OrganizationPage

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
