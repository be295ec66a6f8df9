"""The active organization's audit log, written by the database (docs/audit.md)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from service.db.queries import audit_events as queries
from service.http.deps import MemberRunner
from service.http.errors import forbidden
from service.http.openapi import ADMIN, TENANT, operation
from service.http.pagination import Cursor, Limit
from service.http.problem_types import FORBIDDEN
from service.http.responses import cursors, raw_json
from service.http.schemas import AuditAction, AuditEventPage

router = APIRouter(prefix="/audit-events", tags=["audit"])
LIST = "audit-events"

Since = Annotated[
    AwareDatetime | None, Query(description="Events at or after this time (with a time zone).")
]
Until = Annotated[
    AwareDatetime | None, Query(description="Events before this time (with a time zone).")
]


@router.get(
    "",
    response_model=AuditEventPage,
    **operation(
        "listAuditEvents",
        "List the active organization's audit events",
        ADMIN,
        "Newest first. Every change of members, invitations, projects and the organization,"
        " recorded by the database in the change's own transaction; filters combine with AND.",
        *TENANT,
        FORBIDDEN,
    ),
)
async def list_audit_events(
    request: Request,
    tenant: MemberRunner,
    limit: Limit = 50,
    cursor: Cursor = None,
    action: AuditAction | None = None,
    actor_user_id: UUID | None = None,
    target_id: UUID | None = None,
    since: Since = None,
    until: Until = None,
) -> Response:
    """Newest first. Every change of members, invitations, projects and the organization,
    recorded by the database in the change's own transaction. Only an ORG_ADMIN may read it."""
    filters = {
        "action": action,
        "actor_user_id": actor_user_id,
        "target_id": target_id,
        "since": since,
        "until": until,
    }
    codec = cursors(request)
    result = await queries.list_page(tenant, limit, codec.decode(LIST, cursor), filters)
    if not result.may_read:
        raise forbidden()
    return raw_json(codec.page_body(LIST, result.page))
