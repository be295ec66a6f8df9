"""The caller's organizations (CONTRACT §4)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.db.queries import organizations as queries
from service.http.deps import CallerRunner, IdentityRunner, State
from service.http.errors import too_many_requests
from service.http.pagination import Cursor, Limit, decode_cursor, page_body
from service.http.responses import problems, raw_json
from service.http.schemas import OrganizationIn, OrganizationOut, OrganizationPage

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
