"""SQL behind registration, login, switching organization and /auth/me."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from service.db.runner import NotAMember, RequestRunner

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class Registered:
    user_id: UUID
    email: str
    organization_id: UUID
    organization_name: str
    role: str


@dataclass(frozen=True)
class Membership:
    organization_id: UUID
    organization_name: str
    role: str


async def register(
    conn: Conn, email: str, password_hash: str, organization_name: str
) -> Registered:
    cursor = await conn.execute(
        "select user_id, email, organization_id, organization_name from iam.register(%s, %s, %s)",
        (email, password_hash, organization_name),
    )
    row = await cursor.fetchone()
    assert row is not None
    user_id, email, organization_id, organization_name = row
    return Registered(user_id, email, organization_id, organization_name, "ORG_ADMIN")


async def register_invited(conn: Conn, email: str, password_hash: str, token: str) -> Registered:
    """The new user joins the inviting organization; IAM03 (404) for an unusable invitation."""
    cursor = await conn.execute(
        "select user_id, email, organization_id, organization_name, role"
        " from iam.register_invited(%s, %s, %s)",
        (email, password_hash, token),
    )
    row = await cursor.fetchone()
    assert row is not None
    return Registered(*row)


async def set_password_hash(conn: Conn, user_id: UUID, old_hash: str, new_hash: str) -> None:
    await conn.execute("select iam.set_password_hash(%s, %s, %s)", (user_id, old_hash, new_hash))


async def change_password_hash(conn: Conn, user_id: UUID, old_hash: str, new_hash: str) -> bool:
    """Replace the hash just verified; False when it changed in between."""
    cursor = await conn.execute(
        "select iam.set_password_hash(%s, %s, %s)", (user_id, old_hash, new_hash)
    )
    row = await cursor.fetchone()
    return bool(row and row[0])


async def caller_email(db: RequestRunner) -> str | None:
    row = await db.fetchone("select email from iam.users where id = iam.current_user_id()")
    return None if row is None else str(row[0])


async def switch_organization(db: RequestRunner, organization_id: UUID) -> Membership | None:
    row = await db.fetchone(
        "select organization_id, organization_name, role from iam.switch_organization(%s)",
        (organization_id,),
    )
    return None if row is None else Membership(*row)


# The caller's user, active organization and role, read in one statement:
# one snapshot, so a membership removed or re-added meanwhile cannot give a
# role without its organization or an organization without its role. The
# request's own context statement (which reads the role too) runs as a
# separate statement and may see an older state. A token without an
# organization reads the user alone. No organization filter: the
# organizations policy shows the active organization, and only to a member.
ME = """
select u.id, u.email, o.id, o.name, m.role
from iam.users as u
left join iam.member_role() as m (role) on true
left join iam.organizations as o on true
where u.id = iam.current_user_id()
"""


@dataclass(frozen=True)
class Me:
    user_id: UUID
    email: str
    organization_id: UUID | None
    organization_name: str | None
    role: str | None


async def me(db: RequestRunner) -> Me:
    row = await db.fetchone(ME)
    if row is None or (db.org_id is not None and row[4] is None):
        # Removed between the context statement and this one.
        raise NotAMember
    user_id, email, organization_id, organization_name, role = row
    return Me(
        user_id, email, organization_id, organization_name, None if role is None else str(role)
    )
