"""SQL for iam.invitations. The policies decide who sees and changes what."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.db.queries.pages import AFTER, After, PageRow, fetch_page, json_object, keyset_page
from service.db.runner import RequestRunner

COLUMNS = ("id", "email", "role", "created_at", "expires_at", "invited_by_user_id")
_INVITATION = json_object("i", COLUMNS)
# 32 random bytes: 256 bits, as 43 URL-safe characters.
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


# Pending invitations only. iam.require_org_admin() refuses (42501, 403)
# anyone but an ORG_ADMIN, whom the SELECT policy would show nothing anyway.
def _page(where: str) -> str:
    return keyset_page(
        f"select {', '.join('i.' + c for c in COLUMNS)}, i.id as page_key from iam.invitations as i"
        " where i.accepted_at is null and i.expires_at > now()"
        f" {where} order by i.created_at desc, i.id desc limit %(limit)s + 1",
        COLUMNS,
    )


def _admins_only(page: str) -> str:
    return f"select p.*, iam.require_org_admin() from ({page}) as p"


LIST_FIRST = _admins_only(_page(""))
LIST_AFTER = _admins_only(_page("and " + AFTER.format(created="i.created_at", key="i.id")))

# One pending invitation. A row always comes back, so that anyone but an
# ORG_ADMIN gets 403 whatever the id, as listing and revoking do; the
# invitation is null when the caller cannot see it or it is no longer pending.
GET_PENDING = f"""
select iam.require_org_admin(),
       (select {_INVITATION} from iam.invitations as i
        where i.id = %(id)s and i.accepted_at is null and i.expires_at > now())
"""

# The token travels as a parameter and is hashed by PostgreSQL; only its
# digest is stored, and it leaves in the answer this once.
CREATE = f"""
insert into iam.invitations as i (email, role, token_hash, expires_at)
values (lower(btrim(%(email)s)), %(role)s::iam.org_role, iam.invitation_token_hash(%(token)s),
        now() + %(ttl)s * interval '1 second')
returning {_INVITATION}
"""

# Only pending invitations can be revoked; an ORG_ADMIN is required first, so
# any other member gets 403 whatever the id.
REVOKE = "select iam.require_org_admin(), iam.revoke_invitation(%(id)s)"

# Accepting moves the caller's session to the organization just joined and
# rotates its refresh token, as switching organization does, in the same
# statement: the membership and the session change together or not at all.
ACCEPT = """
select a.organization_id, a.organization_name, a.role, s.expires_at
from iam.accept_invitation(%(token)s) as a
cross join lateral iam.switch_session_organization(a.organization_id, %(refresh)s) as s
"""


@dataclass(frozen=True)
class Joined:
    organization_id: UUID
    organization_name: str
    role: str
    session_expires_at: datetime


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)


async def get_pending(db: RequestRunner, invitation_id: UUID) -> str | None:
    row = await db.fetchone(GET_PENDING, {"id": invitation_id})
    assert row is not None
    return None if row[1] is None else str(row[1])


async def create(db: RequestRunner, email: str, role: str, token: str, ttl_seconds: int) -> str:
    params = {"email": email, "role": role, "token": token, "ttl": ttl_seconds}
    row = await db.fetchone(CREATE, params)
    assert row is not None
    return str(row[0])


async def revoke(db: RequestRunner, invitation_id: UUID) -> bool:
    row = await db.fetchone(REVOKE, {"id": invitation_id})
    assert row is not None
    return bool(row[1])


async def accept(db: RequestRunner, token: str, new_refresh_token: str) -> Joined | None:
    row = await db.fetchone(ACCEPT, {"token": token, "refresh": new_refresh_token})
    return None if row is None else Joined(*row)
