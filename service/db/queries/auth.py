"""SQL behind registration, login, switching organization and /auth/me."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from service.db.runner import RequestRunner

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class Registered:
    user_id: UUID
    email: str
    organization_id: UUID
    organization_name: str


@dataclass(frozen=True)
class LoginCandidate:
    user_id: UUID
    password_hash: str
    is_active: bool
    organization_id: UUID | None
    organization_name: str | None
    role: str | None


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
    return Registered(*row)


async def login_lookup(
    conn: Conn, email: str, organization_id: UUID | None
) -> LoginCandidate | None:
    cursor = await conn.execute(
        "select user_id, password_hash, is_active, organization_id, organization_name, role"
        " from iam.login_lookup(%s, %s)",
        (email, organization_id),
    )
    row = await cursor.fetchone()
    return None if row is None else LoginCandidate(*row)


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


# The caller's user and active organization (none for a token without
# one); the role comes from the request's own context statement
# (RequestRunner.fetchone_with_role), not a second one.
ME = """
select u.id, u.email, o.id, o.name
from iam.users as u
left join iam.organizations as o on o.id = iam.current_org_id()
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
    role, row = await db.fetchone_with_role(ME)
    # An active user (the RequestRunner let the request through) sees themself;
    # a member also sees the organization.
    assert row is not None
    user_id, email, organization_id, organization_name = row
    return Me(user_id, email, organization_id, organization_name, role)
